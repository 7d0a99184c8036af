//! The per-connection peer protocol state machine.
