//! Piece picking: availability, partial pieces, strategies, endgame.
