//! The only unsafe code in `hb-core`: thin, typed wrappers over the syscalls std lacks.
//!
//! Each wrapper owns its fd (`OwnedFd`) and states its contract; every unsafe block carries a
//! `// SAFETY:` comment. Nothing outside `sys` may use `unsafe` (the crate denies it).

pub mod clock;
pub mod fd;
pub mod seqpacket;
pub mod shm;
pub mod signals;
pub mod uring;
