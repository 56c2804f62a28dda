"""T.30: the fax protocol, audio-free (frames, image bits and sample counts in; requests out)."""
