"""The CNN core: conv, fused max-pool and dense passes over one SST engine
(:class:`~sst_hw.core.conv.network.SSTConvNetwork`; its numbers are
:class:`~sst_hw.plan.convnet.ConvPlan`)."""
