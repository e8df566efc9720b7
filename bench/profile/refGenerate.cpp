// Reference generate loop against llama.cpp's C API, doing per token what node-llama-cpp's
// addon does (llama_decode of one token, then a sampler chain), with an explicit thread count,
// for side-by-side callgrind profiles (docs/PROFILE.md). Built by bench/profile/buildRef.sh.
//
//   ref-generate -m MODEL [-t threads] [-n tokens] [-s greedy|penalty|dist] [-tp] [prompt]
//   -s penalty: repeat penalty 1.1 over the last 64 tokens, then greedy (LlamaChat's default chain)
//   -s dist:    top-k 40, top-p 0.95, temperature 0.8, dist (llama-server's sampling)
//   -tp:        attach a persistent ggml thread pool, as llama.cpp's tools do
#include "llama.h"
#include "ggml-cpu.h"

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    std::string model_path;
    std::string prompt = "Summarize the ownership rules of Rust in three short sentences for a new team member.";
    std::string sampler = "greedy";
    int n_threads = 1;
    int n_predict = 32;
    bool threadpool = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-m" && i + 1 < argc) model_path = argv[++i];
        else if (a == "-t" && i + 1 < argc) n_threads = std::stoi(argv[++i]);
        else if (a == "-n" && i + 1 < argc) n_predict = std::stoi(argv[++i]);
        else if (a == "-s" && i + 1 < argc) sampler = argv[++i];
        else if (a == "-tp") threadpool = true;
        else prompt = a;
    }
    if (model_path.empty()) { fprintf(stderr, "usage: %s -m model [-t n] [-n n] [-s greedy|penalty|dist] [-tp] [prompt]\n", argv[0]); return 1; }

    llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
    ggml_backend_load_all();
    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mparams);
    if (!model) { fprintf(stderr, "cannot load %s\n", model_path.c_str()); return 1; }
    const llama_vocab * vocab = llama_model_get_vocab(model);

    std::vector<llama_token> toks(prompt.size() + 8);
    int n_prompt = llama_tokenize(vocab, prompt.c_str(), prompt.size(), toks.data(), toks.size(), true, true);
    toks.resize(n_prompt);

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = n_prompt + n_predict + 8;
    cparams.n_batch = 512;
    cparams.n_threads = n_threads;
    cparams.n_threads_batch = n_threads;
    cparams.no_perf = true;
    llama_context * ctx = llama_init_from_model(model, cparams);

    ggml_threadpool_t tp = nullptr;
    if (threadpool) {
        ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
        tp = ggml_threadpool_new(&tpp);
        llama_attach_threadpool(ctx, tp, tp);
    }

    llama_sampler * smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (sampler == "penalty") {
        llama_sampler_chain_add(smpl, llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), 64, 1.1f, 0.0f, 0.0f));
        llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    } else if (sampler == "dist") {
        llama_sampler_chain_add(smpl, llama_sampler_init_top_k(40));
        llama_sampler_chain_add(smpl, llama_sampler_init_top_p(0.95f, 1));
        llama_sampler_chain_add(smpl, llama_sampler_init_temp(0.8f));
        llama_sampler_chain_add(smpl, llama_sampler_init_dist(1));
    } else {
        llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
    }

    llama_batch batch = llama_batch_get_one(toks.data(), toks.size());
    auto t0 = std::chrono::steady_clock::now();
    if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
    auto t1 = std::chrono::steady_clock::now();
    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    int generated = 0;
    llama_token tok;
    for (int i = 0; i < n_predict; i++) {
        tok = llama_sampler_sample(smpl, ctx, -1);
        generated++;
        if (i + 1 == n_predict) break;
        batch = llama_batch_get_one(&tok, 1);
        if (llama_decode(ctx, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
    }
    auto t2 = std::chrono::steady_clock::now();
    rusage ru1{};
    getrusage(RUSAGE_SELF, &ru1);
    auto ms = [](const timeval & a, const timeval & b) { return (b.tv_sec - a.tv_sec) * 1000.0 + (b.tv_usec - a.tv_usec) / 1000.0; };
    printf("during generation: %ld minor page faults, %ld voluntary + %ld involuntary context switches, %.0f ms user + %.0f ms system CPU\n",
           ru1.ru_minflt - ru0.ru_minflt, ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw, ms(ru0.ru_utime, ru1.ru_utime), ms(ru0.ru_stime, ru1.ru_stime));
    double gen_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    printf("prompt %d tokens %.1f ms; generated %d tokens in %.1f ms = %.2f tok/s (threads %d, sampler %s%s)\n", n_prompt,
           std::chrono::duration<double, std::milli>(t1 - t0).count(), generated, gen_ms, generated / gen_ms * 1000.0, n_threads,
           sampler.c_str(), threadpool ? ", thread pool" : "");
    llama_sampler_free(smpl);
    llama_free(ctx);
    if (tp) ggml_threadpool_free(tp);
    llama_model_free(model);
    return 0;
}
