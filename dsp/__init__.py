"""dsp: the fax engine's signal processing, sans-IO.

G.711, tones, V.21/HDLC, V.27ter, V.29 and V.17 modems, T.30 and T.4/T.6 image coding.
Samples and bits go in, samples, bits and events come out. No files, sockets or clocks:
time is counted in samples at 8000 Hz.
"""

SAMPLE_RATE = 8000
