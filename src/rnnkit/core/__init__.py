"""The math of recurrent cells, the BPTT engine and initialisation: no modules, no dispatch."""
