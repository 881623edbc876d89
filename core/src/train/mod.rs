//! Training: next-template and distillation loops, background jobs, the clock and the pipeline that ties
//! teacher updates and student distillation together.

pub mod clock;
pub mod job;
pub mod lm;
pub mod model_dir;
pub mod pipeline;
pub mod pretrain;
