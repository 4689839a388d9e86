/*
 * chat.c - an interactive chat through the C API (like examples/chat.rs):
 * one line from stdin is one user message; /reset forgets the conversation,
 * /quit (or end of input) ends. Works with stdin as a pipe.
 *
 *   chat --model M.gguf [--system TEXT] [-n MAX_REPLY_TOKENS] [--temp T] [--seed S] [--threads N]
 */
#include "edge_llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "chat --model M.gguf [--system TEXT] [-n MAX_REPLY_TOKENS] [--temp T] [--seed S] [--threads N]";

static int usage_error(const char *msg, const char *arg) {
    fprintf(stderr, "error: %s%s\n\nusage: %s\n", msg, arg ? arg : "", USAGE);
    return 2;
}

static int fail(const char *what, edge_llama_status status) {
    fprintf(stderr, "error: %s: %s (status %d)\n", what, edge_llama_last_error(), (int)status);
    return 1;
}

/* State the text callback updates through its user_data. */
struct reply_stats {
    size_t pieces;
    size_t bytes;
};

static void on_text(const char *text, size_t text_len, void *user_data) {
    struct reply_stats *stats = (struct reply_stats *)user_data;
    stats->pieces++;
    stats->bytes += text_len;
    fwrite(text, 1, text_len, stdout);
    fflush(stdout);
}

static int parse_long(const char *s, long long min, long long max, long long *out) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < min || v > max) return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *system = NULL;
    long long n = 0, seed = -1, threads = 0;
    double temp = -1.0;
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
        } else if (!strcmp(a, "--system")) {
            system = v;
        } else if (!strcmp(a, "-n")) {
            if (!parse_long(v, 1, UINT32_MAX, &n)) return usage_error("invalid value for -n: ", v);
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

    edge_llama_model *model = NULL;
    edge_llama_status st = edge_llama_model_open(model_path, (uint32_t)threads, &model);
    if (st != EDGE_LLAMA_OK) return fail("opening the model", st);

    edge_llama_sampler_params sp;
    edge_llama_sampler_params_default(&sp);
    if (temp >= 0.0) sp.temperature = (float)temp;
    if (seed >= 0) sp.seed = (uint64_t)seed;
    edge_llama_chat *chat = NULL;
    st = edge_llama_chat_new(model, NULL, &sp, system, (uint32_t)n, &chat);
    /* The chat holds its own reference to the model. */
    edge_llama_model_free(model);
    if (st != EDGE_LLAMA_OK) return fail("starting the chat", st);

    int rc = 0;
    char line[4096];
    for (;;) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        if (!strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            edge_llama_chat_reset(chat);
            fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        struct reply_stats stats = {0, 0};
        bool ended = false;
        st = edge_llama_chat_send(chat, line, on_text, &stats, &ended);
        printf("\n");
        fflush(stdout);
        if (st != EDGE_LLAMA_OK) {
            rc = fail("chat", st);
            break;
        }
        fprintf(stderr, "(%zu bytes in %zu pieces%s)\n", stats.bytes, stats.pieces,
                ended ? "" : ", cut at the reply limit");
    }
    edge_llama_chat_free(chat);
    return rc;
}
