"""CAP 1.2 alerts out (Atom index, CAP documents) and alerts derived from threshold rules."""
