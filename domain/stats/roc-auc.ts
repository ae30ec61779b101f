/** ROC-AUC by the Mann–Whitney statistic: P(score of a positive > score of a negative), ties counted half. */
export function rocAuc(positives: number[], negatives: number[]): number {
  if (positives.length === 0 || negatives.length === 0) throw new Error('rocAuc needs at least one positive and one negative');
  const all = [...positives.map((s) => ({ s, p: 1 })), ...negatives.map((s) => ({ s, p: 0 }))].sort((a, b) => a.s - b.s);
  // Average ranks over ties.
  let rankSumPos = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j + 1 < all.length && all[j + 1]!.s === all[i]!.s) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k]!.p === 1) rankSumPos += avgRank;
    i = j + 1;
  }
  const nP = positives.length;
  const nN = negatives.length;
  return (rankSumPos - (nP * (nP + 1)) / 2) / (nP * nN);
}
