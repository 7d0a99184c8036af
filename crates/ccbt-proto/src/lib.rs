//! ccbt: sans-IO peer protocol: connection state machine, piece picker, choker
