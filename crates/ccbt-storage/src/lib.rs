//! ccbt: storage: Storage trait, file and memory backends, hash pool
