from transformers import AutoModelForCausalLM, BitsAndBytesConfig

q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
model = AutoModelForCausalLM.from_pretrained("Qwen/Qwen2.5-7B-Instruct", quantization_config=q,
                                             device_map="auto")
