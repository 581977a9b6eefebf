{
  # Two C files (link.c: socket and thread; answer.c: the fast path), N-API only: the same .node loads on every Node with N-API 8 (Node 20 and 24).
  "targets": [
    {
      "target_name": "heraldlb_link",
      "sources": ["src/link.c", "src/answer.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "cflags_c": ["-std=gnu11"],
      "ldflags": ["-pthread"]
    }
  ]
}
