import torch

def answer_all(model, tok, prompts):
    for p in prompts:
        print(p)
    ids = tok(prompts, return_tensors="pt", padding=True).to("cuda")
    return model.generate(**ids, max_new_tokens=128)
