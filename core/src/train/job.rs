//! Background jobs: a handle with status, progress, wait and cancel, run on a bounded set of worker
//! threads so training never takes every core from detection.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error (see [`JobStatus::error`]).
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// Whether the job will not change any more.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A snapshot of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    /// What the job does, e.g. `train-student:PROJECT`.
    pub name: String,
    /// Its state.
    pub state: JobState,
    /// Progress in `[0, 1]`.
    pub progress: f32,
    /// The error text when it failed.
    pub error: Option<String>,
}

#[derive(Debug)]
struct JobShared {
    name: String,
    state: Mutex<(JobState, Option<String>)>,
    done: Condvar,
    cancel: AtomicBool,
    progress_bits: AtomicU32,
}

/// A handle to a background job: cheap to clone.
#[derive(Debug, Clone)]
pub struct JobHandle {
    shared: Arc<JobShared>,
}

impl JobHandle {
    fn new(name: String) -> Self {
        Self {
            shared: Arc::new(JobShared {
                name,
                state: Mutex::new((JobState::Queued, None)),
                done: Condvar::new(),
                cancel: AtomicBool::new(false),
                progress_bits: AtomicU32::new(0f32.to_bits()),
            }),
        }
    }

    /// The job's current status.
    pub fn status(&self) -> JobStatus {
        let st = self.shared.state.lock();
        JobStatus {
            name: self.shared.name.clone(),
            state: st.0,
            progress: f32::from_bits(self.shared.progress_bits.load(Ordering::Relaxed)),
            error: st.1.clone(),
        }
    }

    /// Asks the job to stop at its next checkpoint.
    pub fn cancel(&self) {
        self.shared.cancel.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was requested.
    pub fn is_cancel_requested(&self) -> bool {
        self.shared.cancel.load(Ordering::SeqCst)
    }

    /// Records progress in `[0, 1]`.
    pub fn set_progress(&self, fraction: f32) {
        self.shared
            .progress_bits
            .store(fraction.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    fn finish(&self, result: Result<()>) {
        let mut st = self.shared.state.lock();
        *st = match result {
            Ok(()) => {
                self.set_progress(1.0);
                (JobState::Succeeded, None)
            }
            Err(Error::Cancelled) => (JobState::Cancelled, None),
            Err(e) => (JobState::Failed, Some(e.to_string())),
        };
        self.shared.done.notify_all();
    }

    /// Blocks until the job finishes or `timeout` passes (`None`: no limit). Returns the final status, or
    /// [`Error::Timeout`].
    pub fn wait(&self, timeout: Option<Duration>) -> Result<JobStatus> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.shared.state.lock();
        while !st.0.is_finished() {
            match deadline {
                Some(d) => {
                    if self.shared.done.wait_until(&mut st, d).timed_out() && !st.0.is_finished() {
                        return Err(Error::Timeout(format!(
                            "job {} still running",
                            self.shared.name
                        )));
                    }
                }
                None => self.shared.done.wait(&mut st),
            }
        }
        drop(st);
        Ok(self.status())
    }
}

type Task = Box<dyn FnOnce(&JobHandle) -> Result<()> + Send>;

/// Runs jobs on a fixed number of worker threads, each job inside a rayon pool of the same size so the
/// matrix kernels of training stay within the bound too.
pub struct JobRunner {
    queue: Arc<(Mutex<QueueState>, Condvar)>,
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

struct QueueState {
    jobs: std::collections::VecDeque<(JobHandle, Task)>,
    running: Option<JobHandle>,
    shutting_down: bool,
}

impl JobRunner {
    /// Starts one worker thread (jobs run one at a time, in order, which keeps teacher updates and
    /// distillations deterministic); training math inside a job uses at most `threads` cores.
    pub fn new(threads: usize) -> Result<Self> {
        let threads = threads.max(1);
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("logsentinel-train-{i}"))
                .start_handler(|_| lower_thread_priority())
                .build()
                .map_err(|e| Error::Model(format!("cannot start training pool: {e}")))?,
        );
        let queue = Arc::new((
            Mutex::new(QueueState {
                jobs: Default::default(),
                running: None,
                shutting_down: false,
            }),
            Condvar::new(),
        ));
        let mut workers = Vec::new();
        let q = queue.clone();
        let p = pool.clone();
        let handle = std::thread::Builder::new()
            .name("logsentinel-jobs".into())
            .spawn(move || {
                lower_thread_priority();
                worker_loop(q, p)
            })
            .map_err(|e| Error::Model(format!("cannot start job worker: {e}")))?;
        workers.push(handle);
        Ok(Self {
            queue,
            workers: Mutex::new(workers),
        })
    }

    /// Queues a job and returns its handle.
    pub fn submit(
        &self,
        name: impl Into<String>,
        task: impl FnOnce(&JobHandle) -> Result<()> + Send + 'static,
    ) -> Result<JobHandle> {
        let handle = JobHandle::new(name.into());
        let (lock, cv) = &*self.queue;
        let mut q = lock.lock();
        if q.shutting_down {
            return Err(Error::Closed);
        }
        q.jobs.push_back((handle.clone(), Box::new(task)));
        cv.notify_one();
        Ok(handle)
    }

    /// Cancels queued jobs, asks running ones to stop, and joins the workers.
    pub fn shutdown(&self) {
        {
            let (lock, cv) = &*self.queue;
            let mut q = lock.lock();
            q.shutting_down = true;
            for (h, _) in q.jobs.drain(..) {
                h.cancel();
                h.finish(Err(Error::Cancelled));
            }
            // The running job stops at its next checkpoint (a training batch), so shutting down never
            // waits for a whole training.
            if let Some(h) = &q.running {
                h.cancel();
            }
            cv.notify_all();
        }
        let me = std::thread::current().id();
        for w in self.workers.lock().drain(..) {
            // The last handle to a detector may be dropped by a job on the worker itself: joining
            // ourselves would deadlock, and the worker exits on its own once the queue says so.
            if w.thread().id() != me {
                let _ = w.join();
            }
        }
    }
}

/// Nice value of training threads: when the host has more runnable threads than cores, the scheduler
/// gives detection threads about ten times the CPU of training ones, so one tenant's training barely
/// moves the others' latency.
const TRAINING_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to [`TRAINING_NICE`] unless it is already lower
/// (Linux applies nice values per thread). Best effort: elsewhere training runs at the host's priority.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid, getpriority and setpriority take plain integers and touch no memory of ours.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::getpriority(libc::PRIO_PROCESS, tid) < TRAINING_NICE {
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, TRAINING_NICE);
        }
    }
}

fn worker_loop(queue: Arc<(Mutex<QueueState>, Condvar)>, pool: Arc<rayon::ThreadPool>) {
    loop {
        let (handle, task) = {
            let (lock, cv) = &*queue;
            let mut q = lock.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    q.running = Some(job.0.clone());
                    break job;
                }
                if q.shutting_down {
                    return;
                }
                cv.wait(&mut q);
            }
        };
        {
            handle.shared.state.lock().0 = JobState::Running;
        }
        let result = if handle.is_cancel_requested() {
            Err(Error::Cancelled)
        } else {
            let h = handle.clone();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.install(|| task(&h))))
                .unwrap_or_else(|_| Err(Error::Model("training job panicked".into())))
        };
        handle.finish(result);
        queue.0.lock().running = None;
    }
}

impl Drop for JobRunner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn training_runs_at_a_lower_priority_than_detection() {
        use std::sync::atomic::{AtomicI32, Ordering};
        fn my_nice() -> i32 {
            // SAFETY: plain integer syscalls.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            }
        }
        let base = my_nice();
        let expected = base.max(TRAINING_NICE);
        let runner = JobRunner::new(2).unwrap();
        let seen = Arc::new([AtomicI32::new(-100), AtomicI32::new(-100)]);
        let s = seen.clone();
        let job = runner
            .submit("nice", move |_| {
                s[0].store(my_nice(), Ordering::SeqCst);
                // The matrix kernels of training run on the pool's threads.
                let pooled = rayon::join(my_nice, my_nice);
                s[1].store(pooled.0.max(pooled.1), Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        job.wait(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(seen[0].load(Ordering::SeqCst), expected);
        assert_eq!(seen[1].load(Ordering::SeqCst), expected);
        assert_eq!(my_nice(), base, "the caller's priority is untouched");
    }

    #[test]
    fn jobs_run_report_and_cancel() {
        let runner = JobRunner::new(1).unwrap();
        let ok = runner
            .submit("ok", |h| {
                h.set_progress(0.5);
                Ok(())
            })
            .unwrap();
        let bad = runner.submit("bad", |_| Err(Error::model("boom"))).unwrap();
        let st = ok.wait(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(st.state, JobState::Succeeded);
        assert_eq!(st.progress, 1.0);
        let st = bad.wait(None).unwrap();
        assert_eq!(st.state, JobState::Failed);
        assert!(st.error.unwrap().contains("boom"));
        let slow = runner
            .submit("slow", |h| {
                while !h.is_cancel_requested() {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(Error::Cancelled)
            })
            .unwrap();
        assert!(matches!(
            slow.wait(Some(Duration::from_millis(20))),
            Err(Error::Timeout(_))
        ));
        slow.cancel();
        assert_eq!(slow.wait(None).unwrap().state, JobState::Cancelled);
        let panics = runner.submit("panics", |_| panic!("inside job")).unwrap();
        assert_eq!(panics.wait(None).unwrap().state, JobState::Failed);
    }

    #[test]
    fn shutdown_cancels_the_running_job_instead_of_waiting_for_it() {
        let runner = JobRunner::new(1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let long = runner
            .submit("long", move |h| {
                let _ = tx.send(());
                let started = Instant::now();
                while !h.is_cancel_requested() {
                    if started.elapsed() > Duration::from_secs(60) {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(Error::Cancelled)
            })
            .unwrap();
        rx.recv().unwrap();
        let t = Instant::now();
        runner.shutdown();
        assert!(t.elapsed() < Duration::from_secs(30));
        assert_eq!(long.status().state, JobState::Cancelled);
    }
}
