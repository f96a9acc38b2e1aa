"""Compare bits_run outputs: per watched model, bit-identical across compositions? across families?
usage: bits_compare.py AVX2FILE DEFAULTFILE"""
import sys, torch
a, d = torch.load(sys.argv[1]), torch.load(sys.argv[2])
for res in (a, d):
    ref = res["rows"]["sorted24"]
    bad = []
    for comp, rows in res["rows"].items():
        for p, row in rows.items():
            n = min(row.numel(), ref[p].numel()); row = row[:n]; r0 = ref[p][:n]  # non-PReLU singles have no slope block
            if not torch.equal(row.view(torch.int32), r0.view(torch.int32)):
                bad.append(f"{comp}/model{p}: max|diff|={(row-r0).abs().max().item():.2e}")
    print(res["capability"], "neighbour-independent" if not bad else "DIFFERS: " + "; ".join(bad))
ra, rd = a["rows"]["sorted24"], d["rows"]["sorted24"]
diff = {p: (ra[p]-rd[p]).abs().max().item() for p in ra}
print("avx2 vs default:", {p: ("equal" if torch.equal(ra[p].view(torch.int32), rd[p].view(torch.int32)) else f"{v:.1e}") for p, v in diff.items()})
