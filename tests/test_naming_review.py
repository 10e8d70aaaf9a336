"""Classes of wrong names a review of 6,743 real ids found (Inference.net, Hyperbolic, Azure ML, Fireworks,
Ollama, Bedrock, fal.ai...): each class read by a rule, checked over several real ids of it and the ids the rule
must leave alone."""

from __future__ import annotations

import pytest

from modelsync_pipeline.naming import derive_name_from_id, make_names_unique, resolve_display_name


@pytest.mark.parametrize(("model_id", "expected"), [
    ("meta-llama/llama-3.1-8b-instruct/fp-8", "Llama 3.1 8B Instruct FP8"),
    ("meta-llama/llama-3.2-1b-instruct/fp-16", "Llama 3.2 1B Instruct FP16"),
    ("deepseek/deepseek-r1/fp-8", "DeepSeek R1 FP8"),
    ("deepseek/deepseek-v3-0324/fp-8", "DeepSeek V3 0324 FP8"),
    ("google/gemma-3-27b-instruct/bf-16", "Gemma 3 27B Instruct BF16"),
    ("mistralai/mistral-nemo-12b-instruct/fp-8", "Mistral Nemo 12B Instruct FP8"),
    ("qwen/qwen2.5-7b-instruct/bf-16", "Qwen2.5 7B Instruct BF16"),
    ("acme/llama-3-8b/int-8", "Llama 3 8B INT8"),
    # left alone: a precision written whole, and last segments that name a variant or a release
    ("qwen/qwen3-30b-a3b/fp8", "Qwen3 30B A3B FP8"),
    ("acme/llama-3-8b/q4_k_m", "Llama 3 8B Q4_K_M"),
    ("fal-ai/flux/dev", "FLUX Dev"),
    ("fal-ai/flux-pro/v1.1", "FLUX Pro v1.1"),
])
def test_a_precision_path_segment_is_appended_to_the_model_before_it(model_id, expected):
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "quantization"), [
    ("meta-llama/llama-3.1-8b-instruct/fp-8", "fp8"),
    ("google/gemma-3-27b-instruct/bf-16", "bf16"),
])
def test_a_precision_written_with_a_hyphen_sets_quantization(model_id, quantization):
    assert resolve_display_name(model_id).quantization == quantization


def test_precision_routes_of_one_model_differ_by_their_precision_alone():
    """Hyperbolic lists one model at two precisions: the names say "FP8" and "BF16", never "FP 8" in front."""
    ids = ["meta-llama/llama-3.1-70b-instruct/fp-8", "meta-llama/llama-3.1-70b-instruct/bf-16"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i)) for i in ids])]
    assert names == ["Llama 3.1 70B Instruct FP8", "Llama 3.1 70B Instruct BF16"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("azureml://registries/azure-openai/models/gpt-4-32k/versions/0613", "GPT-4 32K 0613"),
    ("azureml://registries/azure-openai/models/gpt-35-turbo-16k/versions/0613", "GPT-3.5 Turbo 16K 0613"),
    ("azureml://registries/azure-openai/models/gpt-35-turbo-instruct/versions/0914", "GPT-3.5 Turbo Instruct 0914"),
    ("azureml://registries/azure-openai/models/gpt-35-turbo/versions/0125", "GPT-3.5 Turbo 0125"),
    ("registries/acme/models/gpt-4/versions/20230613", "GPT-4 20230613"),
    # left alone: a date written with hyphens, and numbered asset versions (no month and day)
    ("azureml://registries/azure-openai/models/gpt-4o/versions/2024-11-20", "GPT-4o 2024-11-20"),
    ("azureml://registries/azureml/models/Phi-3-mini-4k-instruct/versions/20", "Phi 3 Mini 4K Instruct v20"),
    ("azureml://registries/azureml/models/Llama-2-7b-chat/versions/27", "Llama 2 7B Chat v27"),
    ("registries/acme/models/x-model/versions/1300", "X Model v1300"),
])
def test_a_date_as_a_registry_version_reads_as_a_date(model_id, expected):
    """Azure OpenAI's "versions/0613" is the June 13 release, written as OpenAI writes it ("gpt-4-0613")."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "upstream"), [
    ("azureml://registries/azureml/models/Llama-2-7b-chat/versions/27", "Llama-2-7b-chat"),
    ("azureml://registries/azureml/models/Meta-Llama-3.1-8B-Instruct/versions/4", "Meta-Llama-3.1-8B-Instruct"),
    ("azureml://registries/azureml/models/AI21-Jamba-1.5-Large/versions/1", "AI21-Jamba-1.5-Large"),
    ("azureml://registries/azureml-mistral/models/Mistral-large/versions/1", "Mistral-large"),
    ("azureml://registries/azure-openai/models/tts/versions/1", "tts"),
    ("azureml://registries/azure-openai/models/gpt-35-turbo/versions/0125", "gpt 35 turbo"),
])
def test_a_registry_name_that_is_the_ids_model_segment_is_read_as_the_id(model_id, upstream):
    """Azure ML names each model by its registry segment: that is the id, not a name anyone wrote, so the
    derived name reads it (and says which version it is)."""
    display = resolve_display_name(model_id, display_name=upstream)
    assert (display.name, display.rule) == (derive_name_from_id(model_id), "derived_from_id")


@pytest.mark.parametrize(("model_id", "upstream"), [
    ("azureml://registries/azureml/models/Llama-2-7b-chat/versions/27", "Llama 2 7B Chat"),
    ("azureml://registries/azure-openai/models/gpt-4o/versions/2024-11-20", "GPT-4o"),
    # a maker's own short spelling, even where it is the registry segment
    ("azureml://registries/azureml/models/Phi-4/versions/1", "Phi-4"),
    ("azureml://registries/azureml-nixtla/models/TimeGEN-1/versions/1", "TimeGEN-1"),
    ("azureml://registries/azureml/models/MedImageInsight/versions/4", "MedImageInsight"),
    ("azureml://registries/azureml-bayer/models/E.L.Y.Crop-Protection/versions/1", "E.L.Y.Crop-Protection"),
])
def test_a_registry_name_written_for_readers_is_kept(model_id, upstream):
    assert resolve_display_name(model_id, display_name=upstream).name == upstream


@pytest.mark.parametrize(("model_id", "expected"), [
    ("z-ai/glm4.7", "GLM-4.7"),
    ("z-ai/glm5", "GLM-5"),
    ("glm4:9b-chat-fp16", "GLM-4 9B Chat FP16"),
    ("glm4:9b-text-q5_K_M", "GLM-4 9B Text Q5_K_M"),
    ("glm4v-9b", "GLM-4V 9B"),
    ("gpt2-medium", "GPT-2 Medium"),
    ("azureml://registries/azureml/models/gpt2-large/versions/17", "GPT-2 Large v17"),
    ("vit-gpt2-image-captioning", "ViT GPT-2 Image Captioning"),
    # left alone: the brand inside a longer word, or followed by more than a version
    ("thudm/chatglm3-6b", "ChatGLM3 6B"),
    ("thudm/glm-4.5v", "GLM-4.5V"),
    ("nomic-ai/gpt4all-j", "GPT4all J"),
    ("qwen/qwen3-8b", "Qwen3 8B"),
])
def test_a_version_glued_to_a_hyphened_brand_is_written_with_its_hyphen(model_id, expected):
    """GLM and GPT write a hyphen before their version ("GLM-4.7", "GPT-2") even where an id glues them."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize("upstream", ["CodeGeeX4", "AutoGLM", "ChatGLM3 6B", "GLM-4.5V"])
def test_a_brand_spelled_by_its_maker_is_kept(upstream):
    assert resolve_display_name("zai/model", display_name=upstream).name == upstream


@pytest.mark.parametrize(("model_id", "expected"), [
    ("fal-ai/kling-v2.1-master-t2v", "Kling v2.1 Master T2V"),
    ("wan2.6-i2v", "Wan2.6 I2V"),
    ("alibaba/wan-v2.6-r2v-flash", "Wan v2.6 R2V Flash"),
    ("valhalla/s2t-mustc-medium", "S2T Mustc Medium"),
    ("sdxl-img2img", "SDXL Img2Img"),
    ("inference.flux.schnell.txt2img.v2", "Inference FLUX Schnell Txt2Img v2"),
    ("timbrooks/instruct-pix2pix", "Instruct Pix2Pix"),
    ("microsoft/godel-v1-1-base-seq2seq", "Godel v1.1 Base Seq2Seq"),
    # left alone: a size, a name of its own, digits after the letters, a brand's version
    ("google/gemma-3n-e2b-it", "Gemma 3n E2B IT"),
    ("gemma3n:e4b", "Gemma 3n E4B"),
    ("fse/word2vec-google-news-300", "Word2vec Google News 300"),
    ("ba2han-llama-phi-3-dora", "Ba2han Llama Phi 3 Dora"),
    ("m2m100", "M2M100"),  # a code read letter by letter (see the model codes below), still not "M2M" and "100"
    ("gpt2", "GPT-2"),
])
def test_a_source_to_target_task_code_is_written_as_one(model_id, expected):
    """"t2v" is text to video, written "T2V"; "img2img" is written "Img2Img": never "T2v" or "Img2img"."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", "Llama 3.1 8B Instruct"),
    ("accounts/fireworks/models/llama-v3p2-11b-vision-instruct", "Llama 3.2 11B Vision Instruct"),
    ("accounts/fireworks/models/llama-v2-7b-chat", "Llama 2 7B Chat"),
    ("llama-v3-70b-instruct", "Llama 3 70B Instruct"),
    ("anthropic.claude-v2:1", "Claude 2.1"),
    # left alone: a "v" that is the model's own release, or not right after the family word
    ("mistralai/mistral-7b-instruct-v0.3", "Mistral 7B Instruct v0.3"),
    ("openhermes:7b-mistral-v2-q5_0", "OpenHermes 7B Mistral v2 Q5_0"),
    ("anthropic.claude-instant-v1", "Claude Instant v1"),
    ("deepseek-v3", "DeepSeek V3"),
    ("moonshot-v1-8k", "Moonshot v1 8K"),
    ("fal-ai/kling-v2.1", "Kling v2.1"),
    ("accounts/fireworks/models/qwen-v2p5-7b", "Qwen v2.5 7B"),  # Qwen glues its version: see below
])
def test_a_v_between_a_family_and_its_release_number_is_not_read(model_id, expected):
    """Fireworks writes "llama-v3p1-8b-instruct" for Meta's Llama 3.1 8B Instruct: never "Llama v3.1"."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("nvidia.nemotron-nano-3-30b:0", "Nemotron Nano 3 30B"),
    ("nvidia.nemotron-super-3-120b:0", "Nemotron Super 3 120B"),
    ("nv-rerank-qa-mistral-4b:1", "NV Rerank QA Mistral 4B"),
    ("acme/widget-7b:0:thinking", "Widget 7B Thinking"),
    # left alone: after a version the number is its minor part
    ("amazon.nova-pro-v1:0", "Nova Pro v1.0"),
    ("openai.gpt-oss-120b-1:0", "GPT-OSS 120B 1.0"),
    ("meta.llama3-8b-instruct-v1:0", "Llama 3 8B Instruct v1.0"),
    ("anthropic.claude-v2:0:100k", "Claude 2.0 100K"),
])
def test_a_bare_revision_number_after_a_size_adds_no_word(model_id, expected):
    assert resolve_display_name(model_id).name == expected


def test_revisions_of_one_model_are_still_told_apart_by_their_number():
    ids = ["nvidia.nemotron-nano-3-30b:0", "nvidia.nemotron-nano-3-30b:1"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i)) for i in ids])]
    assert names == ["Nemotron Nano 3 30B 0", "Nemotron Nano 3 30B 1"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("mistral-small3.1", "Mistral Small 3.1"),
    ("mistral-small3.1:24b", "Mistral Small 3.1 24B"),
    ("mistral-small3.2", "Mistral Small 3.2"),
    ("llama-guard3", "Llama Guard 3"),
    ("llama-guard3:1b-q3_K_L", "Llama Guard 3 1B Q3_K_L"),
    # left alone: brands glued to their version, and a tier word after a word that is no known family
    ("qwen3", "Qwen3"),
    ("falcon3", "Falcon3"),
    ("moondream2", "Moondream2"),
    ("internvl2", "InternVL2"),
    ("bigcode/starcoder2-15b", "StarCoder2 15B"),
    ("cointegrated/rubert-tiny2", "Rubert Tiny2"),
    ("alirezamsh/small100", "Small100"),
])
def test_a_tier_word_glued_to_a_familys_version_is_written_apart(model_id, expected):
    """Ollama's "mistral-small3.1" is Mistral Small 3.1, as "mistral-small-3.1" already read."""
    assert resolve_display_name(model_id).name == expected


def test_fireworks_two_spellings_of_one_qwen_keep_readable_names():
    """Fireworks lists "qwen-v2p5-7b" beside "qwen2p5-7b": reading both "Qwen2.5 7B" would end one on a hash."""
    ids = ["accounts/fireworks/models/qwen-v2p5-7b", "accounts/fireworks/models/qwen2p5-7b"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i)) for i in ids])]
    assert names == ["Qwen v2.5 7B", "Qwen2.5 7B"]


# --- a second review: language-model suffixes, model codes, family acronyms, "non-" words, FLUX.1 ---------------

@pytest.mark.parametrize(("model_id", "expected"), [
    ("smollm2:135m", "SmolLM2 135M"),
    ("smollm2:1.7b-instruct-q4_K_M", "SmolLM2 1.7B Instruct Q4_K_M"),
    ("huggingfacetb/smollm2-360m-instruct", "SmolLM2 360M Instruct"),
    ("smollm:1.7b", "SmolLM 1.7B"),
    ("stabilityai/stablelm-2-1_6b", "StableLM 2 1.6B"),
    ("stabilityai/stablelm-zephyr-3b", "StableLM Zephyr 3B"),
    ("stablelm-tuned-alpha-7b", "StableLM Tuned Alpha 7B"),
    ("facebook/mobilellm-r1-950m", "MobileLLM R1 950M"),
    ("acme/tinyllm-1b", "TinyLLM 1B"),
    # left alone: brands already spelled, "LM" as a word of its own, and English words that end in "lm"
    ("internlm2_5-7b-chat", "InternLM2.5 7B Chat"),
    ("microsoft/wizardlm-2-8x22b", "WizardLM 2 8x22B"),
    ("all-hands/openhands-lm-32b-v0.1", "Openhands LM 32B v0.1"),
    ("palm-2-chat-bison", "PaLM 2 Chat Bison"),
    ("apple/openelm-270m", "OpenELM 270M"),
    ("acme/film-grain-7b", "Film Grain 7B"),
    ("acme/realm-7b", "Realm 7B"),
    ("acme/helm-chat", "Helm Chat"),
    ("acme/calm-7b", "Calm 7B"),
    ("acme/overwhelm-13b", "Overwhelm 13B"),
    ("acme/microfilm-v2", "Microfilm v2"),
    ("acme/napalm-3b", "Napalm 3B"),
])
def test_a_word_fused_with_lm_is_written_as_the_language_model_it_names(model_id, expected):
    """"smollm2" is Hugging Face's SmolLM2 and "stablelm" Stability's StableLM, as "internlm" is InternLM."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("facebook/m2m100_418M", "M2M100 418M"),
    ("facebook/m2m100_1.2B", "M2M100 1.2B"),
    ("m2m100-1.2b", "M2M100 1.2B"),
    ("@cf/meta/m2m100-1.2b", "M2M100 1.2B"),
    ("m2m100", "M2M100"),
    ("sd3-medium", "SD3 Medium"),
    ("stabilityai/sd3.5-large", "SD3.5 Large"),
    ("command-r7b-12-2024", "Command R7B 12-2024"),
    ("openrouter/tngtech/tng-r1t-chimera", "TNG R1T Chimera"),
    # left alone: an underscore inside a version or a decimal size, words with vowels, "Mk" (Mark)
    ("internlm2_5-20b-chat", "InternLM2.5 20B Chat"),
    ("meta-llama/llama-3_1-8b-instruct", "Llama 3.1 8B Instruct"),
    ("deepseek-r1-distill-qwen-1_5b", "DeepSeek R1 Distill Qwen 1.5B"),
    ("qwen/qwen3-8b", "Qwen3 8B"),
    ("tencent/hy3", "Hy3"),
    ("perceptron/perceptron-mk1", "Perceptron Mk1"),
    ("all-hands/openhands-lm-32b-v0.1-ep3", "Openhands LM 32B v0.1 Ep3"),
    ("fse/word2vec-google-news-300", "Word2vec Google News 300"),
    ("mistral-7b-instruct-v0-3", "Mistral 7B Instruct v0.3"),
])
def test_a_vowel_less_model_code_with_digits_is_written_in_capitals(model_id, expected):
    """"m2m100", "sd3", "r7b" are codes read letter by letter, like the vowel-less "mpt" or "rwkv": never
    "M2m100"; and the underscore between such a code and its size parts words ("m2m100_418M"), never "100.418"."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("gte-large", "GTE Large"),
    ("thenlper/gte-base", "GTE Base"),
    ("Alibaba-NLP/gte-Qwen2-7B-instruct", "GTE Qwen2 7B Instruct"),
    ("Alibaba-NLP/gte-multilingual-base", "GTE Multilingual Base"),
    ("qwen3-asr-flash", "Qwen3 ASR Flash"),
    # left alone: acronyms already known, and short family words that are read as words
    ("BAAI/bge-m3", "BGE M3"),
    ("amazon.nova-pro-v1:0", "Nova Pro v1.0"),
    ("Bria/fibo", "Bria Fibo"),
    ("cohere/c4ai-aya-expanse-8b", "C4ai Aya Expanse 8B"),
])
def test_a_short_family_acronym_is_written_in_capitals(model_id, expected):
    """GTE (Alibaba's embedding family) is an acronym as BGE is; ASR is a task as OCR and TTS are."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("qwen3-235b-a22b-non-reasoning", "Qwen3 235B A22B Non-Reasoning"),
    ("grok-4-fast-non-reasoning", "Grok 4 Fast Non-Reasoning"),
    ("grok/grok-4-1-fast-non-reasoning", "Grok 4.1 Fast Non-Reasoning"),
    ("deepseek-v3.1-non-thinking", "DeepSeek V3.1 Non-Thinking"),
    # left alone: "non" not before a word, and words that start with "non"
    ("acme/non-7b", "Non 7B"),
    ("acme/nonlinear-chat", "Nonlinear Chat"),
    ("acme/reasoning-non", "Reasoning Non"),
])
def test_a_non_word_keeps_its_hyphen(model_id, expected):
    """xAI's "grok-4-fast-non-reasoning" is "Grok 4 Fast Non-Reasoning", as Helicone and xAI write it."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("black-forest-labs/FLUX-1-schnell", "FLUX.1 Schnell"),
    ("@cf/black-forest-labs/flux-1-schnell", "FLUX.1 Schnell"),
    ("fal-ai/flux-1/schnell", "FLUX.1 Schnell"),
    ("fal-ai/flux-1/dev", "FLUX.1 Dev"),
    ("black-forest-labs/FLUX-2-klein-9b", "FLUX.2 Klein 9B"),
    ("fal-ai/flux-2-pro", "FLUX.2 Pro"),
    ("flux1-dev", "FLUX.1 Dev"),
    ("black-forest-labs/flux-1.1-pro", "FLUX1.1 Pro"),
    # left alone: FLUX without a release, a release written apart, and FLUX.2 as its maker writes it
    ("fal-ai/flux/schnell", "FLUX Schnell"),
    ("@cf/deepgram/flux", "Deepgram FLUX"),
    ("fal-ai/flux-pro/v1.1", "FLUX Pro v1.1"),
    ("black-forest-labs/FLUX.2-klein-4B", "FLUX.2 Klein 4B"),
])
def test_a_flux_release_is_written_as_black_forest_labs_writes_it(model_id, expected):
    """"flux-1-schnell" is FLUX.1 [schnell]: fal.ai's and Near's own names say "FLUX.1", "FLUX1.1", "FLUX.2"."""
    assert resolve_display_name(model_id).name == expected


def test_two_routes_to_flux_1_schnell_are_told_apart_without_saying_flux_twice():
    """fal.ai lists "fal-ai/flux/schnell" and "fal-ai/flux-1/schnell", both "FLUX.1 [schnell]": one read
    "FLUX.1 Schnell FLUX 1". The id that says "FLUX.1" keeps the name; the other reads as its own id does."""
    ids = ["fal-ai/flux/schnell", "fal-ai/flux-1/schnell"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i, display_name="FLUX.1 [schnell]"))
                                                for i in ids])]
    assert names == ["FLUX Schnell", "FLUX.1 Schnell"]


def test_a_task_phrase_is_said_whole_even_when_its_last_word_is_the_models():
    """"Grok Imagine Video" for its image-to-video route: the task is "Image To Video" as for every other
    fal.ai route ("Sora 2 Image To Video"), not "Image To" (the model says "Video" already)."""
    ids = ["xai/grok-imagine-video", "xai/grok-imagine-video/image-to-video", "xai/grok-imagine-video/text-to-video"]
    names = [d.name for d in make_names_unique([(i, resolve_display_name(i, display_name="Grok Imagine Video"))
                                                for i in ids])]
    assert names == ["Grok Imagine Video", "Grok Imagine Video Image To Video", "Grok Imagine Video Text To Video"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("deepseek.r1-v1:0", "DeepSeek R1 v1.0"),
    ("us.deepseek.r1-v1:0", "DeepSeek R1 v1.0"),
    ("deepseek.v3-v1:0", "DeepSeek V3 v1.0"),
    ("deepseek-ai/deepseek-coder-7b-instruct-v1.5", "DeepSeek Coder 7B Instruct v1.5"),
    # left alone: a "V" that names DeepSeek's release
    ("deepseek-ai/DeepSeek-V3", "DeepSeek V3"),
    ("deepseek/deepseek-prover-v2", "DeepSeek Prover V2"),
    ("deepseek/deepseek-chat-v3.2", "DeepSeek Chat V3.2"),
    ("deepseek-ai/DeepSeek-Coder-V2-Lite-Instruct", "DeepSeek Coder V2 Lite Instruct"),
])
def test_a_revision_after_a_deepseek_release_is_not_read_as_a_release(model_id, expected):
    """DeepSeek's "V3" is a release; the "v1" Bedrock writes after "R1" is that model's revision, and "R1 V1.0"
    read as a second release of a family that has none."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "expected", "quantization"), [
    ("gemma3:27b-it-qat", "Gemma 3 27B IT QAT", "qat"),
    ("gemma3:4b-it-qat", "Gemma 3 4B IT QAT", "qat"),
    ("google/gemma-3-12b-it-qat-q4_0-gguf", "Gemma 3 12B IT QAT Q4_0 GGUF", "q4_0"),
    ("mlx-community/Llama-3.2-3B-Instruct-4bit", "Llama 3.2 3B Instruct 4bit", "4bit"),
    ("mlx-community/Qwen2.5-7B-Instruct-8bit", "Qwen2.5 7B Instruct 8bit", "8bit"),
    ("unsloth/Llama-3.2-1B-Instruct-bnb-4bit", "Llama 3.2 1B Instruct BNB 4bit", "bnb"),
    ("acme/llama-3-8b/4bit", "Llama 3 8B 4bit", "4bit"),  # a last segment of a bit width alone names no model
    # left alone: a word that only starts or ends like one
    ("acme/qatar-7b", "Qatar 7B", None),
    ("acme/orbit-7b", "Orbit 7B", None),
])
def test_quantisation_aware_training_and_a_bit_width_are_quantisations(model_id, expected, quantization):
    """Ollama's "-qat" tags read "Qat", a word nobody says, and MLX's "-4bit" set no quantization, so make_names_unique
    and the catalog's quantization column could not say what told two builds of one model apart."""
    derived = resolve_display_name(model_id)
    assert (derived.name, derived.quantization) == (expected, quantization)


def test_a_bracketed_qat_is_a_quantization_like_a_bracketed_fp8():
    derived = resolve_display_name("google/gemma-3-27b-it-qat", display_name="Gemma 3 27B IT (QAT)")
    assert (derived.name, derived.quantization) == ("Gemma 3 27B IT", "qat")


@pytest.mark.parametrize(("model_id", "expected"), [
    ("cohere.rerank-v3-5:0", "Rerank v3.5.0"),
    ("us.cohere.rerank-v3-5:0", "Rerank v3.5.0"),
    ("acme.embed-v2-1:0", "Embed v2.1.0"),
    ("meta.llama3-1:0", "Llama 3.1.0"),
    ("acme/claude-3-5:1", "Claude 3.5.1"),
    # left alone: a revision after a version written whole, or after a size or a number that is no version
    ("cohere.embed-v4:0", "Embed v4.0"),
    ("anthropic.claude-v2:1", "Claude 2.1"),
    ("twelvelabs.pegasus-1-2-v1:0", "Pegasus 1.2 v1.0"),
    ("openai.gpt-oss-120b-1:0", "GPT-OSS 120B 1.0"),
    ("nvidia.nemotron-nano-3-30b:0", "Nemotron Nano 3 30B"),
    ("acme/model-2024-1:0", "Model 2024 1.0"),
])
def test_a_revision_after_a_version_in_digits_apart_follows_the_whole_version(model_id, expected):
    """Bedrock's "cohere.rerank-v3-5:0" read "Rerank v3 5.0": the revision was glued to the version's last digit
    before the digits apart were read as one version, so the version came out split."""
    assert resolve_display_name(model_id).name == expected


@pytest.mark.parametrize(("model_id", "display_name", "expected"), [
    ("FunAudioLLM/SenseVoiceSmall", None, "SenseVoiceSmall"),
    ("acme/CosyVoice", None, "CosyVoice"),
    ("funaudio/sensevoice", "FunAudio: SenseVoice", "SenseVoice"),
    # left alone: a common word keeps the organisation before it, whatever its case
    ("Bria/erase", None, "Bria Erase"),
    ("thinkingmachines/Inkling", None, "Thinkingmachines Inkling"),
    ("venice/uncensored:free", "Venice: Uncensored (free)", "Venice Uncensored"),
])
def test_a_coined_name_with_inner_capitals_names_its_model_alone(model_id, display_name, expected):
    """SiliconFlow's "FunAudioLLM/SenseVoiceSmall" read "FunAudioLLM SenseVoiceSmall": the lone-word rule took a
    coined name for a common word and kept the organisation before it."""
    assert resolve_display_name(model_id, display_name=display_name).name == expected


_DIGEST = "39ed52f2a78e934b3ba6e2a89f5b1c712de7dfea535525255b1aa35c5565e08b"


@pytest.mark.parametrize(("model_id", "name", "expected"), [
    (f"stability-ai/sdxl:{_DIGEST}", "sdxl", "SDXL"),
    ("llama3.1:8b", "llama3.1", "Llama 3.1 8B"),
    ("phi3:mini", "phi3", "Phi 3 Mini"),
    # left alone: a name with the maker's capitals, and an id-like name that was read as the id already
    (f"stability-ai/sdxl:{_DIGEST}", "SDXL", "SDXL"),
    ("acme/Phi-4:free", "Phi-4", "Phi-4"),
    (f"meta/llama-2-70b-chat:{_DIGEST}", "llama-2-70b-chat", "Llama 2 70B Chat"),
])
def test_a_name_that_is_the_ids_segment_without_its_variant_is_read_as_the_id(model_id, name, expected):
    """Replicate names "stability-ai/sdxl:<digest>" "sdxl" and the catalog showed "sdxl": a lower-case name equal to
    the id's segment before its ":variant" is the id, as the segment whole is."""
    assert resolve_display_name(model_id, name=name).name == expected


@pytest.mark.parametrize(("model_id", "display_name", "expected"), [
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "US Anthropic Claude 3.7 Sonnet", "Claude 3.7 Sonnet"),
    ("eu.meta.llama3-2-3b-instruct-v1:0", "EU Meta Llama 3.2 3B Instruct", "Llama 3.2 3B Instruct"),
    ("apac.amazon.nova-lite-v1:0", "APAC Amazon Nova Lite", "Nova Lite"),
    ("us.mistral.pixtral-large-2502-v1:0", "US Mistral Pixtral Large 25.02", "Pixtral Large 25.02"),
    ("us.deepseek.r1-v1:0", "US DeepSeek-R1", "DeepSeek-R1"),  # before a bare version the vendor is the family
    # left alone: a vendor word that is the model's own family word, and names without the namespace
    ("mistral.mistral-large-2407-v1:0", "Mistral Large (24.07)", "Mistral Large 24.07"),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet", "Claude 3.5 Sonnet"),
    ("deepseek.r1-v1:0", "DeepSeek-R1", "DeepSeek-R1"),
    ("acme/us-anthropic-claude", "US Anthropic Claude", "US Anthropic Claude"),
])
def test_a_bedrock_display_name_loses_the_namespace_words_its_id_loses(model_id, display_name, expected):
    """Bedrock names its inference profiles "US Anthropic Claude 3.7 Sonnet": the vendor was kept as part of the
    name, though the id's own derived name drops the namespace."""
    assert resolve_display_name(model_id, display_name=display_name).name == expected


def test_bedrock_inference_profiles_are_told_apart_by_their_region():
    ids = {"us.anthropic.claude-3-7-sonnet-20250219-v1:0": "US Anthropic Claude 3.7 Sonnet",
           "eu.anthropic.claude-3-7-sonnet-20250219-v1:0": "EU Anthropic Claude 3.7 Sonnet",
           "anthropic.claude-3-7-sonnet-20250219-v1:0": "Claude 3.7 Sonnet"}
    names = make_names_unique([(m, resolve_display_name(m, display_name=d)) for m, d in ids.items()])
    assert [n.name for n in names] == ["Claude 3.7 Sonnet US", "Claude 3.7 Sonnet EU", "Claude 3.7 Sonnet"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("publishers/meta/models/llama-3.1-405b-instruct-maas", "Llama 3.1 405B Instruct MaaS"),
    ("publishers/deepseek-ai/models/deepseek-r1-0528-maas", "DeepSeek R1 0528 MaaS"),
    ("publishers/qwen/models/qwen3-235b-a22b-instruct-2507-maas", "Qwen3 235B A22B Instruct 2507 MaaS"),
])
def test_vertex_model_as_a_service_is_written_maas(model_id, expected):
    """Vertex's partner models end "-maas" (model as a service), which read "Maas", a word nobody says."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "expected", "quantization"), [
    ("Llama-3.2-3B-Instruct-f16.gguf", "Llama 3.2 3B Instruct F16 GGUF", "f16"),
    ("hf.co/org/Qwen3-8B-GGUF:F16", "Qwen3 8B GGUF F16", "f16"),
    ("llama3.2:1b-instruct-f32", "Llama 3.2 1B Instruct F32", "f32"),
    ("acme/llama-3-8b/f16", "Llama 3 8B F16", "f16"),  # a last segment of a precision alone names no model
])
def test_llama_cpp_full_precisions_are_quantisations(model_id, expected, quantization):
    """llama.cpp writes its unquantised files "f16"/"f32": they set no quantization (a ".gguf" file said "gguf")
    while "fp16" did."""
    derived = resolve_display_name(model_id)
    assert (derived.name, derived.quantization) == (expected, quantization)


# --- a third review: providers and families nobody here has recorded ------------------------------------------

@pytest.mark.parametrize(("raw", "expected", "is_free", "quantization", "release_stage"), [
    ("Llama 3.3 70B (free, beta)", "Llama 3.3 70B Beta", True, None, "beta"),
    ("Qwen3 Coder 480B (Free; preview)", "Qwen3 Coder 480B Preview", True, None, "preview"),
    ("DeepSeek V3 (671B; FP8)", "DeepSeek V3 671B", False, "fp8", None),
    ("Mixtral 8x22B (AWQ, Turbo)", "Mixtral 8x22B Turbo", False, "awq", None),
    ("GLM-4.5 (free, int4, deprecated)", "GLM-4.5 Deprecated", True, "int4", "deprecated"),
    # A size or a version among the items is a word of the name: no comma beside it.
    ("Model (beta, free, 70B)", "Model Beta 70B", True, None, "beta"),
    ("Llama 3 (70B, Instruct)", "Llama 3 70B Instruct", False, None, None),
    ("Foo (v2; preview)", "Foo v2 Preview", False, None, "preview"),
    # left alone: a list of plain words keeps its comma, and so do numbers and a comma between digits
    ("Omni (Text, Vision)", "Omni Text, Vision", False, None, None),
    ("Grok 2 (December 12, 2024)", "Grok 2 December 12, 2024", False, None, None),
    ("Llama 3 (1,000 context)", "Llama 3 1,000 Context", False, None, None),
])
def test_each_item_of_a_bracketed_list_is_read_as_its_own_bracket(raw, expected, is_free, quantization, release_stage):
    """"(free, beta)" read as the words "free, Beta": the model was not marked free, and a lower-case "free" stayed
    in the name. Every item of a listed bracket is a flag, a stage or words, as it would be in brackets alone."""
    display = resolve_display_name("acme/model", display_name=raw)
    assert (display.name, display.is_free, display.quantization, display.release_stage) == (
        expected, is_free, quantization, release_stage)


@pytest.mark.parametrize("code", ["en", "es", "de", "ja", "ko", "ru", "ar", "vi"])
@pytest.mark.parametrize(("template", "expected"), [
    ("BAAI/bge-large-{c}-v1.5", "BGE Large {C} v1.5"),
    ("distil-whisper-large-v3-{c}", "Distil Whisper Large v3 {C}"),
    ("aura-2-thalia-{c}", "Aura 2 Thalia {C}"),
    ("jinaai/jina-embeddings-v2-base-{c}", "Jina Embeddings v2 Base {C}"),
    ("Helsinki-NLP/opus-mt-zh-{c}", "Opus MT ZH {C}"),
])
def test_a_language_code_is_written_in_capitals_as_zh_is(template, expected, code):
    """Deepgram's "aura-2-es", Groq's "distil-whisper-large-v3-en", BAAI's "bge-large-en-v1.5" read "Es", "En",
    beside "ZH" for "bge-base-zh": a language code, not a word."""
    assert derive_name_from_id(template.format(c=code)) == expected.format(C=code.upper())


@pytest.mark.parametrize(("model_id", "expected"), [
    ("acme/it-assistant-7b", "IT Assistant 7B"),
    ("acme/say-no-more", "Say No More"),
    ("acme/enigma-7b", "Enigma 7B"),
])
def test_words_that_only_look_like_language_codes_stay_words(model_id, expected):
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("upstream", "expected"), [
    ("llama 3.3 70b instruct", "Llama 3.3 70B Instruct"),
    ("deepseek v3 0324", "DeepSeek V3 0324"),
    ("gpt-4o mini", "GPT-4o Mini"),
    ("qwen3 coder 480b a35b", "Qwen3 Coder 480B A35B"),
    ("mistral 7b instruct v0.3", "Mistral 7B Instruct v0.3"),
    ("glm 4.5 air", "GLM-4.5 Air"),
    ("sdxl lightning", "SDXL Lightning"),
    ("openai: o3 mini", "o3 Mini"),
    ("claude 3.5 sonnet (new)", "Claude 3.5 Sonnet New"),
    ("phi 4 q4_k_m", "Phi 4 Q4_K_M"),
    # left alone: a name with a capital anywhere, punctuation no id holds, a script with no case
    ("Llama 3.1 8b", "Llama 3.1 8b"),
    ("o3", "o3"),
    ("what's new", "what's new"),
    ("\u901a\u4e49\u5343\u95ee max", "\u901a\u4e49\u5343\u95ee max"),
])
def test_a_name_written_all_in_lower_case_is_cased_as_a_derived_name_is(upstream, expected):
    """An upstream "llama 3.3 70b instruct" was shown as written, beside "Llama 3.3 70B Instruct" for the same model
    derived from its id: lower case says nothing of the maker's spelling, so it is read as an id's words are."""
    display = resolve_display_name("acme/some-model", display_name=upstream)
    assert display.name == expected
    assert ("recase_lower_case_name" in display.steps) == (upstream.islower() and display.name != upstream)


@pytest.mark.parametrize(("model_id", "expected"), [
    ("ibm-granite/granite-3.0-3b-a800m-instruct", "Granite 3.0 3B A800M Instruct"),
    ("ibm-granite/granite-3.0-1b-a400m-base", "Granite 3.0 1B A400M Base"),
    ("granite-3.1-1b-a400m-instruct", "Granite 3.1 1B A400M Instruct"),
    ("acme/moe-7b-a500m", "MoE 7B A500M"),
    # left alone: active parameters in billions, and an effective size
    ("qwen3-30b-a3b", "Qwen3 30B A3B"),
    ("Qwen/Qwen1.5-MoE-A2.7B-Chat", "Qwen1.5 MoE A2.7B Chat"),
    ("google/gemma-3n-e4b-it", "Gemma 3n E4B IT"),
])
def test_active_parameters_counted_in_millions_are_a_size(model_id, expected):
    """Granite's MoE "granite-3.0-3b-a800m" (800M active) read "A800m": "A22B" was a size, "A800M" was not."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("chatgpt-4o-latest", "ChatGPT-4o Latest"),
    ("openai/chatgpt-4o-latest", "ChatGPT-4o Latest"),
    ("chatgpt4o", "ChatGPT-4o"),
    # left alone: ChatGPT before a word
    ("chatgpt-image-latest", "ChatGPT Image Latest"),
])
def test_chatgpt_is_written_with_a_hyphen_before_its_version_as_gpt_is(model_id, expected):
    """OpenAI's "chatgpt-4o-latest" read "ChatGPT 4o Latest", though OpenAI, OpenRouter and Helicone all name it
    "ChatGPT-4o", as "gpt-4o" reads "GPT-4o"."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("exaone-deep-32b", "EXAONE Deep 32B"),
    ("cogview-3-plus", "CogView 3 Plus"),
    ("THUDM/cogvlm2-llama3-chat-19B", "CogVLM2 Llama 3 Chat 19B"),
    ("cogvideox-5b", "CogVideoX 5B"),
    ("minicpm-v", "MiniCPM V"),
    ("sensechat-5", "SenseChat 5"),
    ("facebook/musicgen-large", "MusicGen Large"),
    ("playai-tts", "PlayAI TTS"),
    ("sentence-transformers/all-mpnet-base-v2", "All MPNet Base v2"),
    ("nv-embed-qa-4", "NV Embed QA 4"),
    ("nous-hermes-2-mixtral-8x7b-dpo", "Nous Hermes 2 Mixtral 8x7B DPO"),
    # the BERT family, and BERT inside a compound word as Llama is ("CodeLlama")
    ("google-bert/bert-base-uncased", "BERT Base Uncased"),
    ("FacebookAI/xlm-roberta-base", "XLM RoBERTa Base"),
    ("microsoft/deberta-v3-base", "DeBERTa v3 Base"),
    ("distilbert/distilbert-base-uncased", "DistilBERT Base Uncased"),
    ("jina-colbert-v2", "Jina ColBERT v2"),
    ("answerdotai/modernbert-large", "ModernBERT Large"),
    ("vinai/phobert-base", "PhoBERT Base"),
    # left alone: the maker's own capitals, and a short word before "bert"
    ("answerdotai/ModernBERT-base", "ModernBERT Base"),
    ("LGAI-EXAONE/EXAONE-3.5-32B-Instruct", "EXAONE 3.5 32B Instruct"),
    ("albert/albert-base-v2", "Albert Base v2"),
])
def test_families_of_unrecorded_makers_are_spelled_their_makers_way(model_id, expected):
    """"exaone-deep-32b" read "Exaone Deep 32B", "distilbert-base-uncased" "Distilbert Base Uncased", "cogview-3-plus"
    "Cogview 3 Plus": every family word was capitalised as an English word is, not as its maker writes it."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("upstream", "expected", "stage"), [
    ("Deprecated: Llama 2 70B Chat", "Deprecated Llama 2 70B Chat", "deprecated"),
    ("Beta: Sonar Pro", "Beta Sonar Pro", "beta"),
    ("Preview: Gemini 3 Pro", "Preview Gemini 3 Pro", "preview"),
    ("Legacy: PaLM 2 Chat Bison", "Legacy PaLM 2 Chat Bison", "legacy"),
    ("New: GPT-5", "New GPT-5", "new"),
    ("Experimental: Gemini 2.0 Flash", "Experimental Gemini 2.0 Flash", "experimental"),
    # left alone: a company before the colon still goes
    ("OpenAI: GPT-4o", "GPT-4o", None),
    ("Mistral: Pixtral Large", "Pixtral Large", None),
])
def test_a_release_stage_before_a_colon_is_a_stage_never_a_company(upstream, expected, stage):
    """"Deprecated: Llama 2 70B" read "Llama 2 70B": the stage was taken for a company and dropped, and with it the
    one word that told a reader not to choose the model. It reads as "(Deprecated) Llama 2 70B" does."""
    display = resolve_display_name("acme/model", display_name=upstream)
    assert (display.name, display.release_stage) == (expected, stage)


@pytest.mark.parametrize(("upstream", "expected", "is_free", "quantization"), [
    ("Free: Llama 3.1 70B", "Llama 3.1 70B", True, None),
    ("FREE: Qwen3 32B", "Qwen3 32B", True, None),
    ("FP8: Llama 3.1 70B", "Llama 3.1 70B", False, "fp8"),
    ("AWQ: Qwen 32B", "Qwen 32B", False, "awq"),
    ("Int-4: Mixtral 8x7B", "Mixtral 8x7B", False, "int4"),
])
def test_a_flag_before_a_colon_is_a_flag_never_a_company(upstream, expected, is_free, quantization):
    """"Free: Llama 3.1 70B" read "Llama 3.1 70B" with is_free false: "Free" was stripped as a company. A flag before
    the colon is read as the same flag in brackets is, as a release stage there already was."""
    display = resolve_display_name("acme/model", display_name=upstream)
    assert (display.name, display.is_free, display.quantization) == (expected, is_free, quantization)


@pytest.mark.parametrize(("upstream", "expected"), [
    ('"Llama 3.3 70B Instruct"', "Llama 3.3 70B Instruct"),
    ("'Qwen3 Coder 480B'", "Qwen3 Coder 480B"),
    ("\u201cGPT-4o\u201d", "GPT-4o"),
    ("\u201eMistral Large 2\u201c", "Mistral Large 2"),
    ('"OpenAI: GPT-4o (free)"', "GPT-4o"),
    ('"\u201cDeepSeek V3\u201d"', "DeepSeek V3"),
    # left alone: quotes inside a name, and two quoted parts
    ('The "Best" Model', 'The "Best" Model'),
    ('"Fast" and "Slow"', '"Fast" and "Slow"'),
])
def test_quotes_around_the_whole_name_go(upstream, expected):
    """A value quoted twice over ('"Llama 3.3 70B Instruct"', from JSON inside CSV or YAML) was shown with its quotes,
    and "OpenAI: " inside them was not read as a company."""
    display = resolve_display_name("acme/model", display_name=upstream)
    assert display.name == expected
    assert ("drop_wrapping_quotes" in display.steps) == (upstream[0] != expected[0])


@pytest.mark.parametrize(("model_id", "expected"), [
    ("stable-fast-3d", "Stable Fast 3D"),
    ("stabilityai/stable-point-aware-3d", "Stable Point Aware 3D"),
    ("tencent/hunyuan-3d-2.1", "Hunyuan 3D 2.1"),
    ("microsoft/trellis-3d", "Trellis 3D"),
    ("acme/2d-animator", "2D Animator"),
    # left alone: a code read letter by letter already, and sizes
    ("stabilityai/sv4d", "SV4D"),
    ("acme/model-3b", "Model 3B"),
])
def test_a_dimension_is_written_3d(model_id, expected):
    """Stability's "stable-fast-3d" read "Stable Fast 3d": a dimension is "3D" wherever it is written."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("upstream", "expected"), [
    ("GPT\u20114o", "GPT-4o"),                       # non-breaking hyphen, as OpenAI's pages write it
    ("GPT\u20104o mini", "GPT-4o mini"),             # hyphen
    ("Llama\u22123 70B", "Llama-3 70B"),             # minus sign
    ("Qwen3\ufe6332B", "Qwen3-32B"),                 # small hyphen-minus
    ("\uff2c\uff4c\uff41\uff4d\uff41 \uff13\uff0e\uff11 \uff17\uff10\uff22", "Llama 3.1 70B"),  # full-width
    ("\u901a\u4e49\u5343\u95ee\uff0d\uff2d\uff41\uff58", "\u901a\u4e49\u5343\u95ee-Max"),
    ("OpenAI\uff1aGPT\u20114o", "GPT-4o"),
    # left alone: a spaced dash between words is a separator, read as one already
    ("Llama 3.1 70B \u2013 Turbo", "Llama 3.1 70B - Turbo"),
])
def test_characters_that_look_like_ascii_read_as_ascii(upstream, expected):
    """"GPT\u20114o" (a non-breaking hyphen) and full-width "\uff2c\uff4c\uff41\uff4d\uff41 \uff13" were shown as sent: a
    name no one can type, and one that never matches the same model in another provider's catalog."""
    assert resolve_display_name("acme/model", display_name=upstream).name == expected


def test_two_spellings_of_one_name_in_lookalike_characters_collide_as_one():
    names = {resolve_display_name("acme/model", display_name=n).name for n in ("GPT-4o", "GPT\u20114o", "\uff27\uff30\uff34-4o")}
    assert names == {"GPT-4o"}


@pytest.mark.parametrize(("model_id", "upstream", "expected"), [
    ("openai/gpt-4o", "[OpenAI] GPT-4o", "GPT-4o"),
    ("openai/gpt-4o", "GPT-4o (OpenAI)", "GPT-4o"),
    ("meta-llama/llama-3.3-70b-instruct", "(Meta) Llama 3.3 70B Instruct", "Llama 3.3 70B Instruct"),
    ("@cf/meta/llama-3-8b-instruct", "Llama 3 8B Instruct (Meta)", "Llama 3 8B Instruct"),
    ("nvidia/llama-3.1-nemotron-70b-instruct", "Llama 3.1 Nemotron 70B Instruct [NVIDIA] (free)",
     "Llama 3.1 Nemotron 70B Instruct"),
    # the company-prefix rule decides, as for "Company: Model"
    ("deepseek/deepseek-r1", "[DeepSeek] R1", "DeepSeek R1"),
    ("deepseek/deepseek-r1", "DeepSeek R1 (DeepSeek)", "DeepSeek R1"),
    ("mistralai/mistral-saba", "(Mistral) Saba", "Mistral Saba"),
    ("perplexity/sonar", "Sonar (Perplexity)", "Perplexity Sonar"),
    # left alone: no organisation in the id, a bracket in the middle, a tier or a segment of the model's own path
    ("acme-model", "[OpenAI] GPT-4o", "OpenAI GPT-4o"),
    ("openai/gpt-4o", "GPT-4o (OpenAI) Mini", "GPT-4o OpenAI Mini"),
    ("Pro/zai-org/GLM-5.1", "GLM-5.1 (Pro)", "GLM-5.1 Pro"),
    ("fal-ai/flux/dev/image-to-image", "FLUX.1 [dev]", "FLUX.1 Dev"),
])
def test_a_bracketed_company_the_id_names_is_read_as_a_company_prefix(model_id, upstream, expected):
    """"[OpenAI] GPT-4o" and "GPT-4o (OpenAI)" for "openai/gpt-4o" read "OpenAI GPT-4o" and "GPT-4o OpenAI": the
    company the id names kept as words, where "OpenAI: GPT-4o" and "OpenAI - GPT-4o" already lost it."""
    assert resolve_display_name(model_id, display_name=upstream).name == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("tunedModels/my-support-bot-x7k2p9q1w3", "My Support Bot X7K2P9Q1W3"),
    ("tunedModels/number-generator-model-ps3p4gljyko", "Number Generator Model Ps3p4gljyko"),
    ("acme/classifier-a9p3k7m2", "Classifier A9p3k7m2"),
    # left alone: Fireworks' versions and sizes written with "p"
    ("accounts/fireworks/models/llama-v3p1-8b-instruct", "Llama 3.1 8B Instruct"),
    ("accounts/fireworks/models/qwen2p5-vl-32b-instruct", "Qwen2.5 VL 32B Instruct"),
    ("accounts/fireworks/models/qwen3-0p6b", "Qwen3 0.6B"),
    ("accounts/fireworks/models/kimi-k2p6", "Kimi K2.6"),
    ("glm-4p5v", "GLM-4.5V"),
])
def test_a_p_between_digits_of_a_random_suffix_is_no_version(model_id, expected):
    """Google's tuned models end in a random suffix ("tunedModels/my-support-bot-x7k2p9q1w3"): the "p" Fireworks writes
    for a version's dot was read inside it, inventing a version ("X7K2.9Q1W3")."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("upstream", "expected", "quantization"), [
    ("Llama 3.3 70B (FP-8)", "Llama 3.3 70B", "fp8"),
    ("Qwen2.5 72B (BF 16)", "Qwen2.5 72B", "bf16"),
    ("Kimi K2 (INT-4)", "Kimi K2", "int4"),
    ("Mistral 7B (8-bit)", "Mistral 7B", "8bit"),
    ("Gemma 3 27B (4 bit)", "Gemma 3 27B", "4bit"),
    ("Phi 4 14B 4-bit", "Phi 4 14B 4-bit", "4bit"),   # a plain word stays as written, and still says it
    # left alone: a bracket that only starts like one
    ("Llama 3 (free-ish)", "Llama 3 Free-Ish", None),
])
def test_a_precision_or_bit_width_written_with_a_separator_is_a_quantisation_in_a_name(upstream, expected, quantization):
    """"(FP8)" was a quantisation and went, while "(FP-8)" stayed as words; "(8-bit)" set no quantization at all,
    though "-4bit" in an id did."""
    display = resolve_display_name("acme/model", display_name=upstream)
    assert (display.name, display.quantization) == (expected, quantization)


@pytest.mark.parametrize(("model_id", "expected", "quantization"), [
    ("acme/llama-3-70b-4-bit", "Llama 3 70B 4bit", "4bit"),
    ("acme/qwen2.5-7b-instruct-8_bit", "Qwen2.5 7B Instruct 8bit", "8bit"),
    ("acme/llama-3-8b/4-bit", "Llama 3 8B 4bit", "4bit"),
    # left alone: a bit after a version, and a word that starts with "bit"
    ("acme/qwen-1.5-bit", "Qwen 1.5 Bit", None),
    ("microsoft/bitnet-b1.58-2b-4t", "Bitnet B1.58 2B 4T", None),
])
def test_a_bit_width_written_with_a_separator_is_one_word_in_an_id(model_id, expected, quantization):
    display = resolve_display_name(model_id)
    assert (display.name, display.quantization) == (expected, quantization)


@pytest.mark.parametrize(("model_id", "expected"), [
    ("command-r+", "Command R+"),
    ("cohere/command-r+-08-2024", "Command R+ 08-2024"),
    ("acme/notus+", "Notus+"),
    # left alone: a "+" before a word parts the two
    ("gpt-4o+search", "GPT-4o Search"),
    ("acme/llama-3+vision", "Llama 3 Vision"),
])
def test_a_plus_that_ends_a_word_is_part_of_it(model_id, expected):
    assert derive_name_from_id(model_id) == expected


def test_a_model_and_its_plus_are_told_apart_by_their_names_not_a_hash():
    """"command-r+" read "Command R", the name of another model: beside "command-r" one of them ended on a hash."""
    ids = ["command-r", "command-r+"]
    assert [d.name for d in make_names_unique([(i, resolve_display_name(i)) for i in ids])] == ["Command R", "Command R+"]


@pytest.mark.parametrize(("model_id", "expected"), [
    ("step-1v-8k", "Step 1V 8K"),
    ("step-1.5v-mini", "Step 1.5V Mini"),
    ("acme/model-3v", "Model 3V"),
    # left alone: GLM and GPT, written so already; "o" for omni stays lower case
    ("glm-4.5v", "GLM-4.5V"),
    ("gpt-4v", "GPT-4V"),
    ("step-1o-turbo-vision", "Step 1o Turbo Vision"),
])
def test_a_version_with_v_for_vision_is_written_with_a_capital(model_id, expected):
    """StepFun's "step-1v-8k" read "Step 1v 8K" beside "GLM-4.5V": a version's vision "v" is a capital."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("model_id", "expected"), [
    ("skt/A.X-4.0", "A.X 4.0"),
    ("skt/A.X-3.1-Light", "A.X 3.1 Light"),
    ("skt/a.x-4.0-light", "A.X 4.0 Light"),
    ("acme/e.l.y-crop-7b", "E.L.Y Crop 7B"),
    # left alone: a dot between words parts them, and a Bedrock namespace goes
    ("moonshot.kimi-k2", "Kimi K2"),
    ("dots.llm1.inst", "Dots LLM1 Inst"),
    ("ai21.jamba-1-5-large-v1:0", "Jamba 1.5 Large v1.0"),
    ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "Claude 3.7 Sonnet 20250219 v1.0"),
])
def test_initials_written_with_dots_are_one_word(model_id, expected):
    """SK Telecom's "A.X-4.0" read "A X 4.0", and "a.x-4.0-light" lost its "A" as if it were a Bedrock namespace:
    letters parted by dots one by one are initials, one word in capitals."""
    assert derive_name_from_id(model_id) == expected


@pytest.mark.parametrize(("upstream", "expected"), [
    ("Llama 3.2 11B &amp; Vision", "Llama 3.2 11B & Vision"),
    ("Claude&nbsp;3.5 Sonnet", "Claude 3.5 Sonnet"),
    ("GPT-4o &#8211; mini", "GPT-4o - mini"),
    ("&quot;Qwen3 32B&quot;", "Qwen3 32B"),
    ("Mistral&#39;s Saba", "Mistral's Saba"),
    ("OpenAI&#x3a; GPT-4o &#40;free&#41;", "GPT-4o"),
    ("Llama 3 &amp;amp; Vision", "Llama 3 & Vision"),       # escaped twice
    # left alone: an ampersand that starts no whole reference
    ("AT&T Model 7B", "AT&T Model 7B"),
    ("Ask&notify 2", "Ask&notify 2"),
])
def test_an_html_character_reference_reads_as_its_character(upstream, expected):
    """A name escaped for a web page ("Llama 3.2 11B &amp; Vision", "Claude&nbsp;3.5 Sonnet") was shown with its
    escapes; "OpenAI&#x3a; GPT-4o &#40;free&#41;" kept its company and was not marked free."""
    assert resolve_display_name("acme/model", display_name=upstream).name == expected


@pytest.mark.parametrize(("upstream", "expected"), [
    ("auto router (best for prompt)", "Auto Router Best for Prompt"),
    ("kling video v3 image to video", "Kling Video v3 Image to Video"),
    ("fast and cheap model for chat", "Fast and Cheap Model for Chat"),
    # left alone: a connector that starts the name, or a part after " - "
    ("to the moon 7b", "To The Moon 7B"),
    ("llama 3 70b: in depth", "Llama 3 70B - In Depth"),
])
def test_a_lower_case_name_keeps_its_connectors_lower_case(upstream, expected):
    """Read as an id's words are, "auto router (best for prompt)" gave "Best For Prompt", where the same name with
    its capitals gives "Best for Prompt": a connector after the first word stays lower case in every name."""
    assert resolve_display_name("acme/model", display_name=upstream).name == expected


@pytest.mark.parametrize(("upstream", "expected"), [
    ("Llama 3 <b>New</b>", "Llama 3 New"),
    ("<strong>GPT-4o</strong> Mini", "GPT-4o Mini"),
    ('Mistral <span class="tag">Large</span> 2', "Mistral Large 2"),
    ("Claude 3.5 Sonnet<BR/>", "Claude 3.5 Sonnet"),
    ("Qwen3 <em>32B</em> <sup>New</sup>", "Qwen3 32B New"),
    ('<a href="https://example.com/x">Gemma 3 27B</a>', "Gemma 3 27B"),
    # escaped once (or twice) before it reached the payload: read "Llama 3 B New b"
    ("Llama 3 &lt;b&gt;New&lt;/b&gt;", "Llama 3 New"),
    ("Llama 3 &amp;lt;b&amp;gt;New&amp;lt;/b&amp;gt;", "Llama 3 New"),
    # left alone: angle brackets around words that are no inline HTML element are a bracket, read as one
    ("Model X <beta>", "Model X Beta"),
    ("Model X <7B>", "Model X 7B"),
])
def test_an_html_tag_in_a_name_is_markup_never_words(upstream, expected):
    """A name scraped from a page kept its tags as words: "Llama 3 <b>New</b>" read "Llama 3 B New b"."""
    display = resolve_display_name("acme/model-x", display_name=upstream)
    assert display.name == expected
    assert ("drop_html_tags" in display.steps) == (expected not in ("Model X Beta", "Model X 7B"))


@pytest.mark.parametrize(("model_id", "upstream", "expected"), [
    ("meta-llama/llama-3-70b", "Llama 3 70B (meta-llama/llama-3-70b)", "Llama 3 70B"),
    ("meta-llama/llama-3-70b", "Llama 3 70B (llama-3-70b)", "Llama 3 70B"),
    ("openai/gpt-4o", "GPT-4o [gpt-4o]", "GPT-4o"),
    ("@cf/qwen/qwen1.5-14b-chat-awq", "Qwen 1.5 14B Chat (@cf/qwen/qwen1.5-14b-chat-awq)", "Qwen 1.5 14B Chat"),
    ("accounts/fireworks/models/deepseek-v3", "(DEEPSEEK-V3) DeepSeek V3", "DeepSeek V3"),
    ("mistral-large-2411", "Mistral Large 2411 {mistral-large-2411}", "Mistral Large 2411"),
    # left alone: a bracket that is not the id, an id too short to tell, a name that is nothing but the bracket
    ("meta-llama/llama-3-70b", "Llama 3 70B (Instruct)", "Llama 3 70B Instruct"),
    ("acme/b", "Foo (B)", "Foo B"),
    ("fal-ai/flux/schnell", "FLUX.1 [schnell]", "FLUX.1 Schnell"),
])
def test_a_bracket_holding_the_models_own_id_goes(model_id, upstream, expected):
    """A catalog that shows each model's id beside its name ("Llama 3 70B (meta-llama/llama-3-70b)") gave
    "Llama 3 70B llama-3-70b": the id read as words of the name."""
    display = resolve_display_name(model_id, display_name=upstream)
    assert display.name == expected
    last = model_id.split("/")[-1]
    assert ("drop_bracketed_id" in display.steps) == (last in upstream.lower() and len(last) >= 4
                                                      and not last.isalpha())


@pytest.mark.parametrize(("model_id", "upstream", "expected"), [
    ("anthropic/claude-3-haiku", "Claude 3 Haiku | Anthropic", "Claude 3 Haiku"),
    ("openai/gpt-4o", "GPT-4o by OpenAI", "GPT-4o"),
    ("amazon/nova-pro", "Nova Pro - Amazon", "Nova Pro"),
    ("meta-llama/llama-3-70b", "Llama 3 70B \u2014 Meta", "Llama 3 70B"),
    ("qwen/qwen2.5-72b", "Qwen2.5 72B \u00b7 Qwen", "Qwen2.5 72B"),
    ("cohere/command-r", "Command R from Cohere", "Command R"),
    # left alone: a word that is not the organisation the id names, or too short to tell
    ("meta-llama/llama-3-70b", "Llama 3 - Instruct", "Llama 3 - Instruct"),
    ("google/gemini-2.5-flash", "Gemini 2.5 Flash by Night", "Gemini 2.5 Flash by Night"),
    ("mistralai/mistral-7b", "Mistral 7B - Mi", "Mistral 7B - Mi"),
    ("x/model", "Model by X", "Model by X"),
])
def test_the_company_named_after_the_name_goes_when_the_id_names_it(model_id, upstream, expected):
    """A company before the name went ("Anthropic: Claude 3 Haiku"), the same company after it stayed ("Claude 3
    Haiku | Anthropic" kept its "| Anthropic", "GPT-4o by OpenAI" its "by OpenAI")."""
    display = resolve_display_name(model_id, display_name=upstream)
    assert display.name == expected
    assert ("drop_trailing_company" in display.steps) == (expected != upstream)


@pytest.mark.parametrize(("model_id", "is_free"), [
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo-Free", True),   # Together's free tier, a model of its own
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-70B-free", True),
    ("acme/model_free", True),
    ("openrouter/acme/model:free", True),
    # left alone: "free" that is not the id's last word, or part of another word
    ("acme/free-7b", False),
    ("acme/freedom-7b", False),
    ("acme/model-freeze", False),
])
def test_free_as_the_last_word_of_an_id_marks_the_model_free(model_id, is_free):
    """Together lists a free tier as a model of its own ("...-Instruct-Turbo-Free"), at 0/0: it read is_free false,
    where OpenRouter's ":free" variant of the same kind read true."""
    assert resolve_display_name(model_id).is_free is is_free


@pytest.mark.parametrize(("upstream", "expected", "is_free", "quantization", "stage"), [
    ("Llama 3 70B \u2014 deprecated", "Llama 3 70B Deprecated", False, None, "deprecated"),
    ("Llama 3 70B - Free", "Llama 3 70B", True, None, None),
    ("Qwen 32B \u2013 AWQ", "Qwen 32B", False, "awq", None),
    ("Llama 3 70B | beta", "Llama 3 70B Beta", False, None, "beta"),
    ("Claude 3.5 Sonnet \u2013 New", "Claude 3.5 Sonnet New", False, None, "new"),  # as "(New)" reads
    # left alone: any other word after a separator is a part of the name
    ("GPT-4o - mini", "GPT-4o - mini", False, None, None),
    ("Deprecated - Llama 3", "Deprecated - Llama 3", False, None, "deprecated"),
])
def test_a_flag_after_a_separator_at_the_end_reads_as_the_flag_in_brackets(upstream, expected, is_free, quantization,
                                                                           stage):
    """"Llama 3 70B - Free" was not marked free and kept " - Free"; "... \u2014 deprecated" set the stage and kept its
    lower-case word: the same flag in brackets is read, and written, as a flag."""
    display = resolve_display_name("acme/model", display_name=upstream)
    assert (display.name, display.is_free, display.quantization, display.release_stage) == (
        expected, is_free, quantization, stage)


@pytest.mark.parametrize(("model_id", "stage"), [
    ("acme/model-v1.0.0-beta.2", "beta"),   # semver's pre-release
    ("acme/model-beta2", "beta"),
    ("acme/model-alpha1", "alpha"),
    ("acme/model-preview3", "preview"),
    # left alone: a stage word inside another word
    ("acme/betamax-7b", None),
    ("acme/alphafold-3", None),
])
def test_a_stage_numbered_within_itself_is_that_stage(model_id, stage):
    """"model-v1.0.0-beta.2" read "Model v1.0.0 Beta.2" with no release stage: only the bare word was a stage."""
    assert resolve_display_name(model_id).release_stage == stage


@pytest.mark.parametrize(("upstream", "expected"), [
    ("Mixtral 8x7B w/o system prompt", "Mixtral 8x7B without system prompt"),
    ("GPT-4o w/ Vision", "GPT-4o with Vision"),
    ("GPT-4o W/Vision", "GPT-4o with Vision"),
    ("Acme Chat w/o", "Acme Chat without"),
    # left alone: a "w" that ends a word
    ("Acme Llama-3 How/Why", "Acme Llama-3 How Why"),
])
def test_with_and_without_written_w_slash_are_the_words(upstream, expected):
    """"Mixtral 8x7B w/o system prompt" read "... w o system prompt" and "GPT-4o w/ Vision" "GPT-4o w Vision": read
    as paths, two opposite words came out alike."""
    assert resolve_display_name("acme/model-x", name=upstream).name == expected
