//! Choosing which interested peers we upload to.
