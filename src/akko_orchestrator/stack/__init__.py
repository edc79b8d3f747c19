"""`akko stack`: AKKO's cluster engines started on this machine, on loopback, with downloads cached between runs."""
