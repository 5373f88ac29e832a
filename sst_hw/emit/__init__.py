"""Verilog and JSON sidecars of every core kind.

* :mod:`.engine`: engines (SST and dense baselines);
* :mod:`.network`: network cores (with the SPRAM simulation model);
* :mod:`.write`: what both share: the module-name check, the atomic writer,
  port and stream descriptions, the sidecar's JSON layout.

The sidecar is the contract for anyone who instantiates a core
(docs/architecture.md, "The JSON sidecar: the contract").
"""
