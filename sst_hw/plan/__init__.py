"""Planning: every figure of an engine or a network core, computed before any hardware.

* :mod:`.engine`: engine parameters (:class:`~sst_hw.plan.engine.SSTParams`
  and the dense kinds): validation, accumulator width, latency, stream
  layouts, the code-word layout;
* :mod:`.network`: the network plan (:func:`~sst_hw.plan.network.plan_network`):
  layer schedule, memory images, the closed-form cycle count, resources
  against a device.

The components in :mod:`sst_hw.rtl` and :mod:`sst_hw.core` take these values
and only build hardware.
"""
