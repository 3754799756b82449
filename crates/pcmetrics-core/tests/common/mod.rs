pub mod proxy;
pub mod stack;
