"""Public layers: stacked (bi)directional RNN/LSTM/GRU and their single-step cells."""
