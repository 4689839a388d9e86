/*
 * generate.c - generates text from a prompt through the C API, streaming it,
 * then prints prompt and generation tokens/s (like examples/generate.rs).
 *
 *   generate --model M.gguf --prompt TEXT [-n TOKENS] [--temp T] [--seed S] [--threads N]
 *            [--stop TEXT]...
 *
 * Build: scripts/build-c-examples.sh (links the static library).
 */
#include "edge_llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *USAGE =
    "generate --model M.gguf --prompt TEXT [-n TOKENS] [--temp T] [--seed S] [--threads N] "
    "[--stop TEXT]...";

#define MAX_STOPS 16

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "error: %s%s\n\nusage: %s\n", msg, arg ? arg : "", USAGE);
    return 2;
}

/* Prints the library's message for a failed call and returns 1. */
static int fail(const char *what, edge_llama_status status) {
    fprintf(stderr, "error: %s: %s (status %d)\n", what, edge_llama_last_error(), (int)status);
    return 1;
}

/* Called with each generated token; prints its text. user_data is unused
 * here (see chat.c for one that carries state). */
static int32_t on_token(uint32_t token, const char *text, size_t text_len, void *user_data) {
    (void)token;
    (void)user_data;
    fwrite(text, 1, text_len, stdout);
    fflush(stdout);
    return 0; /* 0: go on; non-zero would stop generating */
}

static int parse_long(const char *s, long long min, long long max, long long *out) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL;
    long long n = 64, seed = -1, threads = 0;
    double temp = -1.0;
    const char *stops[MAX_STOPS];
    size_t n_stops = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: %s\n", USAGE);
            return 0;
        }
        if (i + 1 >= argc) return usage_error("missing value for ", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--model")) {
            model_path = v;
        } else if (!strcmp(a, "--prompt")) {
            prompt = v;
        } else if (!strcmp(a, "--stop")) {
            if (n_stops == MAX_STOPS) return usage_error("too many --stop strings", NULL);
            stops[n_stops++] = v;
        } else if (!strcmp(a, "-n")) {
            if (!parse_long(v, 0, UINT32_MAX, &n)) return usage_error("invalid value for -n: ", v);
        } else if (!strcmp(a, "--seed")) {
            if (!parse_long(v, 0, INT64_MAX, &seed)) return usage_error("invalid value for --seed: ", v);
        } else if (!strcmp(a, "--threads")) {
            if (!parse_long(v, 0, 1024, &threads)) return usage_error("invalid value for --threads: ", v);
        } else if (!strcmp(a, "--temp")) {
            char *end = NULL;
            temp = strtod(v, &end);
            if (end == v || *end != '\0') return usage_error("invalid value for --temp: ", v);
        } else {
            return usage_error("unknown option ", a);
        }
    }
    if (!model_path) return usage_error("missing --model", NULL);
    if (!prompt) return usage_error("missing --prompt", NULL);

    edge_llama_model *model = NULL;
    edge_llama_status st = edge_llama_model_open(model_path, (uint32_t)threads, &model);
    if (st != EDGE_LLAMA_OK) return fail("opening the model", st);
    edge_llama_model_info info;
    st = edge_llama_model_get_info(model, &info);
    if (st != EDGE_LLAMA_OK) return fail("model info", st);
    fprintf(stderr, "model %s: %u layers, dim %u, vocab %u; kernels %s, %u threads\n", model_path,
            info.n_layers, info.dim, info.n_vocab, info.kernel_path, info.threads);

    edge_llama_sampler_params sp;
    edge_llama_sampler_params_default(&sp);
    if (temp >= 0.0) sp.temperature = (float)temp;
    if (seed >= 0) sp.seed = (uint64_t)seed;

    int rc = 0;
    uint32_t *tokens = NULL;
    edge_llama_sampler *sampler = NULL;
    edge_llama_session *session = NULL;
    st = edge_llama_sampler_new(model, &sp, &sampler);
    if (st != EDGE_LLAMA_OK) {
        rc = fail("sampler", st);
        goto done;
    }
    st = edge_llama_session_new(model, NULL, &session);
    if (st != EDGE_LLAMA_OK) {
        rc = fail("session", st);
        goto done;
    }
    /* Tokenize and evaluate the prompt, then generate from where it ended
     * (edge_llama_session_generate could also take the text directly). */
    size_t n_prompt = 0;
    st = edge_llama_tokenize(model, prompt, info.add_bos, NULL, 0, &n_prompt);
    if (st == EDGE_LLAMA_ERR_BUFFER_TOO_SMALL) {
        tokens = malloc(n_prompt * sizeof *tokens);
        if (!tokens) {
            fprintf(stderr, "error: out of memory\n");
            rc = 1;
            goto done;
        }
        st = edge_llama_tokenize(model, prompt, info.add_bos, tokens, n_prompt, &n_prompt);
    }
    if (st != EDGE_LLAMA_OK) {
        rc = fail("tokenizing", st);
        goto done;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "error: the prompt has no tokens\n");
        rc = 1;
        goto done;
    }

    printf("%s", prompt);
    fflush(stdout);
    double t0 = now_seconds();
    st = edge_llama_session_eval(session, tokens, n_prompt);
    double t_prompt = now_seconds() - t0;
    if (st != EDGE_LLAMA_OK) {
        rc = fail("evaluating the prompt", st);
        goto done;
    }
    for (size_t i = 0; i < n_prompt; i++) edge_llama_sampler_accept(sampler, tokens[i]);

    size_t produced = 0;
    double t1 = now_seconds();
    st = edge_llama_session_generate(session, sampler, NULL, (uint32_t)n, stops, n_stops,
                                     on_token, NULL, &produced);
    double t_gen = now_seconds() - t1;
    printf("\n");
    fflush(stdout);
    if (st != EDGE_LLAMA_OK) {
        rc = fail("generating", st);
        goto done;
    }
    fprintf(stderr,
            "prompt: %zu tokens in %.3f s (%.2f tokens/s); generation: %zu tokens in %.3f s "
            "(%.2f tokens/s)\n",
            n_prompt, t_prompt, (double)n_prompt / t_prompt, produced, t_gen,
            t_gen > 0 ? (double)produced / t_gen : 0.0);
done:
    free(tokens);
    edge_llama_session_free(session);
    edge_llama_sampler_free(sampler);
    edge_llama_model_free(model);
    return rc;
}
