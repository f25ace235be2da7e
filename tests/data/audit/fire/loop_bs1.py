import torch

def answer_all(model, tok, prompts):
    out = []
    for p in prompts:
        ids = tok(p, return_tensors="pt").to("cuda")
        # one request at a time
        out.append(model.generate(**ids, max_new_tokens=128))
    return out
