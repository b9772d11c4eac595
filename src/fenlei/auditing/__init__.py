"""``fenlei audit``: which training labels look wrong (confident learning on k-fold runs), and
which near-identical texts carry different labels. It calls train once per fold and never
reaches inside it (DESIGN.md §1)."""
