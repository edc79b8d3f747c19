"""Plans: engine-agnostic step graphs built from specs (what each step reads, writes and waits for)."""
