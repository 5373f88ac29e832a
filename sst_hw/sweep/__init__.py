"""Design-space exploration: ``sst-hw sweep`` and ``sst-hw autotune``.

A sweep crosses the axes of a spec (codebook, PE, SIMD, device, memory, data
set, hidden layers, or model files) into *points* and runs each point's
stages on a Dask cluster: ``plan`` (the network plan: cycles, memory, fit),
``train`` (a digits-sized MLP trained with the point's codebook: accuracy)
and ``synth`` (the network core's Verilog through Yosys and nextpnr: LUT4,
block RAM, fmax, inferences/s). Results are cached by the content of their
inputs, so a rerun computes only what changed; constraints mark the points
that qualify, and :mod:`.select` picks the best one for ``autotune``.

Modules, in the order a sweep uses them:

* :mod:`.spec`: the spec (TOML or command-line ranges), checked before any work;
* :mod:`.points`: the spec's axes crossed into points, invalid combinations marked;
* :mod:`.keys`: content hashes (data sets, sources, Verilog) and cache keys;
* :mod:`.cache`: the JSON cache under ``build/sweep/cache``;
* :mod:`.stages`: the work of one stage (runs in a child process of a worker);
* :mod:`.child`: that child process (``python -m sst_hw.sweep.child``);
* :mod:`.tasks`: the Dask tasks (top-level functions taking plain data);
* :mod:`.cluster`: a Dask client on a ``LocalCluster`` or an existing scheduler;
* :mod:`.progress`: progress lines on stderr;
* :mod:`.runner`: the client side: cache look-ups, submission, collection;
* :mod:`.records`: the results of a run in front of the cache, one record per point;
* :mod:`.results`: constraints, the table (JSON, CSV, Markdown), the Pareto front;
* :mod:`.plot`: the Pareto plot (PNG);
* :mod:`.select`: the choice of ``autotune``.

This room sits after :mod:`sst_hw.train` (it trains) and before
:mod:`sst_hw.cli`; Dask is imported only by :mod:`.cluster`, :mod:`.runner`
and :mod:`.tasks`, when a sweep runs.
"""
