//! Hands results to JavaScript: a large `detectBatch` result in slices, with the event loop free in
//! between, and events (session verdicts, incidents) to a callback through a threadsafe function.
//!
//! Events are produced on whichever thread scores (the JavaScript thread for `detect`, a libuv worker
//! for `detectBatch`): [`event_callback`] turns a JavaScript function into the core's callback for any
//! event type, queueing each event for the JavaScript thread without ever waiting.
//!
//! Batch results: scoring runs off the JavaScript thread, but the result objects can only be built on
//! it, and building them costs about 10 µs per detection (22 fields, nested arrays): 200 ms for a
//! 20,000-line batch, a long stall for a server. So a result with more than [`RESULT_CHUNK`] detections is converted
//! [`RESULT_CHUNK`] at a time, one slice per turn of the event loop (`setImmediate`), and the promise
//! resolves with the complete, ordinary `BatchDetection` object once the last slice is in. Timers, I/O
//! and other callbacks run between slices; the result is the same as a one-go conversion. (What remains
//! of the event loop's delay during a very large batch is mostly V8's own garbage collection of the
//! growing result: young-generation scavenges of 10 to 25 ms with 20,000 detections alive.)

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{
    Array, Env, FromNapiValue, Function, FunctionRef, JsObjectValue, Object, ObjectRef,
    ToNapiValue, Unknown,
};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{JsDeferred, JsValue, Status};

use crate::types::{BatchDetection, Detection};

/// A JavaScript function receiving events of type `T` (`SessionVerdict`, `Incident`): called on the
/// JavaScript thread, never keeping the process alive (weak), an exception thrown by it reported as an
/// uncaught exception.
pub type EventFn<T> = ThreadsafeFunction<T, (), T, Status, false, true>;

/// The core's callback for events of type `C` (`Fn(&C)`: `VerdictCallback`, `IncidentCallback`) that
/// hands each event, converted to `T`, to the JavaScript function: always asynchronously on the
/// JavaScript thread (after the call that produced it returned), whichever thread produced it.
pub fn event_callback<C, T>(f: EventFn<T>) -> Arc<dyn Fn(&C) + Send + Sync>
where
    C: Clone + 'static,
    T: From<C> + ToNapiValue + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |event: &C| {
        // Non-blocking on an unbounded queue: never waits, whichever thread produced the event.
        let _status = f.call(
            T::from(event.clone()),
            ThreadsafeFunctionCallMode::NonBlocking,
        );
    })
}

/// Detections converted per turn of the event loop (about 2 to 5 ms of JavaScript-thread time).
pub const RESULT_CHUNK: usize = 256;

/// Settles the promise with the finished object.
type Finish = Box<dyn FnOnce(Env) -> napi::Result<ObjectRef<false>>>;

/// A delivery in progress (lives on the JavaScript thread).
struct Delivery {
    rest: std::vec::IntoIter<Detection>,
    next: u32,
    array: Option<ObjectRef<false>>,
    total_logs: f64,
    anomalies_detected: f64,
    project_id: String,
    deferred: Option<JsDeferred<ObjectRef<false>, Finish>>,
    step: Option<FunctionRef<(), ()>>,
}

type Shared = Rc<RefCell<Delivery>>;

/// The batch as a JavaScript value: the object itself when it is small, else a promise of it that
/// slices of [`RESULT_CHUNK`] detections fill across event-loop turns.
pub fn batch_to_js<'env>(env: &'env Env, batch: BatchDetection) -> napi::Result<Unknown<'env>> {
    if batch.results.len() <= RESULT_CHUNK {
        // SAFETY: `env` is the live environment of the JavaScript thread this runs on.
        let raw = unsafe { napi::bindgen_prelude::ToNapiValue::to_napi_value(env.raw(), batch)? };
        // SAFETY: `raw` was just created in `env`.
        return Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) });
    }
    let (deferred, promise) = env.create_deferred::<ObjectRef<false>, Finish>()?;
    let n = u32::try_from(batch.results.len()).unwrap_or(u32::MAX);
    let array = env
        .create_array(n)?
        .coerce_to_object()?
        .create_ref::<false>()?;
    let state: Shared = Rc::new(RefCell::new(Delivery {
        rest: batch.results.into_iter(),
        next: 0,
        array: Some(array),
        total_logs: batch.total_logs,
        anomalies_detected: batch.anomalies_detected,
        project_id: batch.project_id,
        deferred: Some(deferred),
        step: None,
    }));
    let mine = Rc::clone(&state);
    let step =
        env.create_function_from_closure::<(), (), _>("logsentinelDeliverBatch", move |ctx| {
            step_once(ctx.env, &mine);
            Ok(())
        })?;
    state.borrow_mut().step = Some(step.create_ref()?);
    if let Err(e) = schedule(env, &state) {
        fail(env, &state, e);
    }
    Ok(promise.to_unknown())
}

/// Runs the step function again at the next turn of the event loop.
fn schedule(env: &Env, state: &Shared) -> napi::Result<()> {
    let st = state.borrow();
    let Some(step) = st.step.as_ref() else {
        return Ok(());
    };
    let step = step.borrow_back(env)?;
    let set_immediate: Function<'_, Function<'_, (), ()>, Unknown<'_>> =
        env.get_global()?.get_named_property("setImmediate")?;
    set_immediate.call(step)?;
    Ok(())
}

/// Converts the next slice; schedules the next one or settles the promise.
fn step_once(env: &Env, state: &Shared) {
    let converted = (|| -> napi::Result<bool> {
        let mut st = state.borrow_mut();
        let obj = match st.array.as_ref() {
            Some(a) => a.get_value(env)?,
            None => return Ok(true),
        };
        // SAFETY: the reference holds the array created in `batch_to_js`, in this environment.
        let mut array = unsafe { Array::from_napi_value(env.raw(), obj.raw())? };
        for _ in 0..RESULT_CHUNK {
            let Some(d) = st.rest.next() else { break };
            array.set(st.next, d)?;
            st.next += 1;
        }
        Ok(st.rest.len() == 0)
    })();
    let outcome = match converted {
        Ok(false) => schedule(env, state),
        Ok(true) => finish(env, state),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        fail(env, state, e);
    }
}

/// Builds the `BatchDetection` object around the filled array and resolves the promise.
fn finish(env: &Env, state: &Shared) -> napi::Result<()> {
    let mut st = state.borrow_mut();
    let Some(array) = st.array.take() else {
        return Ok(());
    };
    // The same keys, in the same order, as the `BatchDetection` object of a small batch.
    let mut obj = Object::new(env)?;
    obj.set("results", &array)?;
    obj.set("totalLogs", st.total_logs)?;
    obj.set("anomaliesDetected", st.anomalies_detected)?;
    obj.set("projectId", std::mem::take(&mut st.project_id))?;
    array.unref(env)?;
    let done = obj.create_ref::<false>()?;
    st.step = None;
    if let Some(deferred) = st.deferred.take() {
        deferred.resolve(Box::new(move |_env: Env| Ok(done)));
    }
    Ok(())
}

/// Rejects the promise and releases what the delivery holds.
fn fail(env: &Env, state: &Shared, err: napi::Error) {
    let mut st = state.borrow_mut();
    if let Some(array) = st.array.take() {
        let _released = array.unref(env);
    }
    st.step = None;
    if let Some(deferred) = st.deferred.take() {
        deferred.reject(err);
    }
}
