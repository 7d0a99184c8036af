//! ccbt: the tokio engine: Session, torrents, connections
