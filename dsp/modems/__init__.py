"""Fax modems: V.21 channel 2, V.27ter, V.29 and V.17, behind the block API of DESIGN.md §3."""
