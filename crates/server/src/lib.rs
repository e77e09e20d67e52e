//! The HTTP server and the request pipeline.
