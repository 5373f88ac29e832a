"""``sst-hw codebook``: print the size and cost of an SST codebook."""

import json

from sst_hw.format.codebook import ASSIGNMENTS, VARIANTS, Codebook


def register(sub):
    p = sub.add_parser("codebook", help="print codebook size, bits per code and per weight")
    p.add_argument("--n", type=int, required=True, help="subvector length N (2..64)")
    p.add_argument("--k", type=int, required=True, help="non-zeros per subvector K (1..N)")
    p.add_argument("--variant", choices=VARIANTS, default="full")
    p.add_argument("--assignment", choices=ASSIGNMENTS, default="enum")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args):
    cb = Codebook(args.n, args.k, args.variant, args.assignment)
    info = cb.describe()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"SST codebook {cb.variant} ({cb.n},{cb.k}), {cb.assignment} assignment")
    print(f"  members (M)      {cb.size}")
    print(f"  bits per code    {cb.bits}")
    print(f"  bits per weight  {cb.bits_per_weight:.4g}")
    print(f"  table entries    2^{cb.bits} = {cb.table_size}")
    print(f"  zero code        {cb.zero_code}")
    return 0
