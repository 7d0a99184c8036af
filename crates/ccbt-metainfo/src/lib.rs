//! ccbt: torrent metainfo (v1, hybrid), path sanitising, torrent creation
