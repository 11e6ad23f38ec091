"""speechdae's benchmarks against other denoisers. Run each from the repository root as a module:

    python -m benchmarks.quality   (also speed, peers, stream_speed, long_run, train_throughput, ray_throughput)

`peers.PEERS` is the registry of every compared system, speechdae included. The development data is found by
`speechdae.data.data_root()` ($SPEECHDAE_DATA, else ../shared/data beside the checkout), as the recipes and the
tests find it. See benchmarks/README.md.
"""
