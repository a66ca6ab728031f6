"""The model service: the BentoML app (service), its HTTP-free request logic (handlers), request models,
batching, and packaging an approved model into a bento."""
