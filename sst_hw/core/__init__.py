"""The network core: a whole SST network on chip, layer by layer over one engine.

:class:`~sst_hw.core.network.SSTNetwork` connects
:class:`~sst_hw.core.code_memory.CodeMemory` (block RAM or SPRAM),
:class:`~sst_hw.core.act_buffer.ActivationBuffer` (ping-pong banks),
:class:`~sst_hw.core.sequencer.Sequencer`, the engine,
:class:`~sst_hw.core.serialiser.Serialiser` (with the arg-max) and
:class:`~sst_hw.core.requant.Requantizer`, all built from one
:class:`~sst_hw.plan.network.NetPlan` (docs/architecture.md, "The network core").
"""
