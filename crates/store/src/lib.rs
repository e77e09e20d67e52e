//! Durable storage behind one interface (SQLite embedded).
