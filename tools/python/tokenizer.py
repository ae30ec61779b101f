"""realgen-mini tokenizer: reference implementation (the TypeScript port must match exactly).

encode(text, category|None):
  words = re.findall(r"[a-z0-9]+", text.lower())
  ids   = [categories[category]] (if category given)
        + [vocab.get(w, unk) for w in words]
        + [bigrams[w1+" "+w2] for consecutive (w1, w2) if present in bigrams]
  truncate to maxLen, right-pad with pad (0).
Running this file builds descriptors.json, tokenizer.json and tokenizer-fixtures.json.
"""
import collections
import json
import os
import random
import re

WORD_RE = re.compile(r"[a-z0-9]+")
CATEGORIES = ["animals", "buildings", "dishes", "indoor_view", "outdoor_view", "people", "plants"]

# Candidate descriptor phrases per slot (mined from RealBench long_prompt; see build()).
SLOT_CANDIDATES = {
    "camera": ["captured on a fujifilm camera", "fujifilm camera", "taken with an iphone", "phone camera",
               "mirrorless camera", "smartphone", "sony camera", "canon"],
    "lens": ["shallow depth of field", "deep depth of field", "telephoto compression", "telephoto lens",
             "wide aperture", "bokeh", "wide angle", "macro"],
    "lighting": ["soft window light", "diffused daylight", "soft daylight", "natural light", "warm light",
                 "overcast", "golden hour", "dappled light"],
    "texture": ["natural skin texture", "fine pores", "natural texture", "matte texture", "skin texture",
                "tactile realism", "fine texture", "faint pores"],
    "imperfection": ["natural imperfection", "stray hairs", "faint smudge", "motion blur", "edge softness",
                     "vignetting", "lens flare", "slight blur"],
    "grain": ["slight grain", "touch of grain", "fine grain", "hint of grain", "slight noise",
              "touch of noise", "sensor noise", "digital noise"],
}
MIN_PHRASE_DOCS = 3


def words(text):
    return WORD_RE.findall(text.lower())


def encode(tok, text, category=None):
    vocab, bigrams = tok["vocab"], tok["bigrams"]
    w = words(text)
    ids = []
    if category is not None:
        ids.append(tok["categories"][category])
    ids += [vocab.get(x, tok["unk"]) for x in w]
    for a, b in zip(w, w[1:]):
        k = a + " " + b
        if k in bigrams:
            ids.append(bigrams[k])
    ids = ids[: tok["maxLen"]]
    return ids + [tok["pad"]] * (tok["maxLen"] - len(ids))


def contains_phrase(word_list, phrase):
    p = words(phrase)
    n = len(p)
    return any(word_list[i:i + n] == p for i in range(len(word_list) - n + 1))


def phrases_in(long_prompt, descriptors):
    wl = words(long_prompt)
    out = []
    for slot, ps in descriptors["slots"].items():
        for p in ps:
            if p != "none" and contains_phrase(wl, p):
                out.append(p)
    return out


def training_caption(row, descriptors, rng):
    """short prompt + ', ' + random subset (0-4) of descriptor phrases present in this row's long_prompt."""
    present = phrases_in(row["long_prompt"], descriptors)
    k = rng.randint(0, min(4, len(present)))
    chosen = rng.sample(present, k)
    return ", ".join([row["prompt"]] + chosen) if chosen else row["prompt"]


def full_caption(row, descriptors):
    present = phrases_in(row["long_prompt"], descriptors)
    return ", ".join([row["prompt"]] + present)


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build():
    from common import OUT, load_rows, split_of, write_json
    rows = load_rows()
    train = [r for r in rows if split_of(r["index"]) != "heldout"]
    longs = [words(r["long_prompt"]) for r in rows]
    slots, counts = {}, {}
    for slot, cands in SLOT_CANDIDATES.items():
        keep = ["none"]
        for p in cands:
            n = sum(contains_phrase(wl, p) for wl in longs)
            counts[p] = n
            if n >= MIN_PHRASE_DOCS:
                keep.append(p)
        slots[slot] = keep[:9]
    descriptors = {"version": 1, "slots": slots,
                   "longPromptDocCounts": {p: counts[p] for s in slots.values() for p in s if p != "none"},
                   "note": "phrases mined from RealBench long_prompt; counts = number of the 1041 long prompts containing the phrase as a word sequence (tokenizer words)"}
    write_json(os.path.join(OUT, "descriptors.json"), descriptors)

    caps = [words(full_caption(r, descriptors)) for r in train]
    uni = collections.Counter(w for c in caps for w in c)
    bi = collections.Counter(a + " " + b for c in caps for a, b in zip(c, c[1:]))
    desc_words, desc_bigrams = set(), set()
    for ps in slots.values():
        for p in ps:
            if p == "none":
                continue
            pw = words(p)
            desc_words.update(pw)
            if len(pw) == 2:
                desc_bigrams.add(" ".join(pw))
    cats = {c: 2 + i for i, c in enumerate(CATEGORIES)}
    nid = 2 + len(CATEGORIES)
    uni_words = sorted({w for w, n in uni.items() if n >= 2} | desc_words, key=lambda w: (-uni.get(w, 0), w))
    vocab = {}
    for w in uni_words:
        vocab[w] = nid
        nid += 1
    CAP = 6000
    bi_list = sorted({b for b, n in bi.items() if n >= 3} | desc_bigrams,
                     key=lambda b: (0 if b in desc_bigrams else 1, -bi.get(b, 0), b))
    bigrams = {}
    for b in bi_list:
        if nid >= CAP:
            break
        bigrams[b] = nid
        nid += 1
    tok = {"version": 1, "maxLen": 96, "pad": 0, "unk": 1, "vocabSize": nid,
           "wordRegex": "[a-z0-9]+", "lowercase": True,
           "encode": "[categories[category]] if category else [] + [vocab[w] or unk for w in words] + [bigrams['w1 w2'] for consecutive pairs present]; truncate maxLen; right-pad 0",
           "categories": cats, "vocab": vocab, "bigrams": bigrams}
    write_json(os.path.join(OUT, "tokenizer.json"), tok)
    rng = random.Random(1234)
    ex = [(rows[0]["prompt"], rows[0]["category"]),
          (rows[10]["prompt"] + ", slight grain, shallow depth of field", "animals"),
          ("A woman in soft window light, natural skin texture, fine pores, captured on a fujifilm camera", None),
          ("Zyxq UNSEENWORD 42 bokeh!! motion-blur", "people"),
          (training_caption(rows[500], descriptors, rng), rows[500]["category"])]
    fixtures = [{"text": t, "category": c, "ids": encode(tok, t, c)} for t, c in ex]
    write_json(os.path.join(OUT, "tokenizer-fixtures.json"), {"version": 1, "maxLen": 96, "fixtures": fixtures})
    print("vocab size", nid, "unigrams", len(vocab), "bigrams", len(bigrams))
    print(json.dumps(slots, indent=1))
    return tok, descriptors


if __name__ == "__main__":
    build()
