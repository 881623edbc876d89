//! Conversions between Python objects and JSON values (configs and rules go in as dicts or dataclasses;
//! `to_dict()` comes out from the core's serde representation).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PySequence, PyString, PyTuple,
};
use serde_json::{Map, Value};

/// A JSON value as a Python object (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub(crate) fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Serializes a core value and converts it to Python (the body of every `to_dict()`).
pub(crate) fn to_py_dict<'py, T: serde::Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value)
        .map_err(|e| PyValueError::new_err(format!("cannot serialize: {e}")))?;
    json_to_py(py, &json)
}

/// The serde name of a unit enum variant (`"warmup"`, `"student"`, `"succeeded"`...).
pub(crate) fn enum_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A Python object as JSON: dicts (string keys), lists, tuples, str, int, float, bool, None, path-like
/// objects (as strings), dataclasses (fields set to `None` are left out, so defaults apply) and objects
/// with a `to_dict()` method.
pub(crate) fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        let u: u64 = obj.extract()?;
        return Ok(Value::from(u));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err(format!("{f} is not a finite number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(dict) = obj.cast::<PyDict>() {
        return mapping_to_json(dict.items().into_any());
    }
    if obj.hasattr("__dataclass_fields__")? && !obj.is_instance_of::<pyo3::types::PyType>() {
        let asdict = py.import("dataclasses")?.getattr("asdict")?;
        let dict = asdict.call1((obj,))?;
        return Ok(drop_nulls(py_to_json(&dict)?));
    }
    if obj.hasattr("__fspath__")? {
        let path = py.import("os")?.getattr("fspath")?.call1((obj,))?;
        return py_to_json(&path);
    }
    if let Ok(to_dict) = obj.getattr("to_dict") {
        if to_dict.is_callable() {
            return py_to_json(&to_dict.call0()?);
        }
    }
    if let Ok(mapping) = obj.cast::<PyMapping>() {
        return mapping_to_json(mapping.items()?.into_any());
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let seq = obj.cast::<PySequence>()?;
        let mut out = Vec::with_capacity(seq.len()?);
        for item in seq.try_iter()? {
            out.push(py_to_json(&item?)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "cannot use a {} here (expected dict, list, str, number, bool, None, path or dataclass)",
        obj.get_type().name()?
    )))
}

fn mapping_to_json(items: Bound<'_, PyAny>) -> PyResult<Value> {
    let mut map = Map::new();
    for pair in items.try_iter()? {
        let (k, v): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
        let key: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("dictionary keys must be strings"))?;
        map.insert(key, py_to_json(&v)?);
    }
    Ok(Value::Object(map))
}

fn drop_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, drop_nulls(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_nulls_removes_unset_fields_recursively() {
        let v = serde_json::json!({"a": null, "b": 1, "c": {"d": null, "e": [null]}});
        assert_eq!(
            drop_nulls(v),
            serde_json::json!({"b": 1, "c": {"e": [null]}})
        );
    }

    #[test]
    fn enum_names_follow_serde() {
        assert_eq!(enum_name(&logsentinel::Phase::Warmup), "warmup");
        assert_eq!(
            enum_name(&logsentinel::CloseReason::EndOfInput),
            "end_of_input"
        );
    }
}
