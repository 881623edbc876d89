//! Models: the sequence Transformer (candle) and its incremental inference engine, the isolation forest,
//! rules, features, calibration, the global vocabulary and the ensemble.

pub mod behaviour;
pub mod calibrate;
pub mod ensemble;
pub mod features;
pub mod forest;
pub mod infer;
pub mod injection;
pub mod novelty;
pub mod pause;
pub mod rules;
pub mod shape;
pub mod transformer;
pub mod vocab;
