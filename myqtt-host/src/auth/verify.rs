//! Argon2 verification with reused working memory.
//!
//! Each Argon2 check needs its whole memory cost at once (19 MiB with the default
//! parameters). Allocating and freeing that per check, from whichever blocking thread runs it,
//! made the broker's resident memory grow by that much per thread and never shrink (the
//! allocator keeps freed blocks in per-thread arenas): a burst of bad logins cost hundreds of
//! MiB for good. Here the buffers are kept in a pool and reused, so memory stays at one buffer
//! per check that ran at the same time (bounded by the caller's concurrency limit).

use std::sync::{Mutex, PoisonError};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Working memory of finished checks, for the next ones.
static POOL: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// Whether `password` hashes to `hash` (Argon2d/i/id with the parameters, version and salt the
/// PHC string records); false for any hash that cannot be checked. The comparison of the
/// outputs is constant-time.
pub(crate) fn verify(password: &[u8], hash: &PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let mut memory = POOL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    let hashed = argon2
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_ok();
    POOL.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(memory);
    hashed && argon2::password_hash::phc::Output::new(out).is_ok_and(|out| out == *expected)
}
