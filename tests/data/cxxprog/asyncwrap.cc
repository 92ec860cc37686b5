// SPDX-License-Identifier: Apache-2.0
//
// A C++ program for test_elfbin, shaped like the parts of Node.js the agent
// reads (classes in nested namespaces, inheritance, overloads).  Run by the
// test: it prints the layout the compiler chose, one line per query,
// "TYPE MEMBER OFFSET" or "TYPE - SIZE", for the test to compare with what
// the DWARF says.
#include <cstddef>
#include <cstdio>

namespace node {

class BaseObject {
 public:
  virtual ~BaseObject() {}
  void *persistent_handle_ = nullptr;
  void *env_ = nullptr;
};

class AsyncWrap : public BaseObject {
 public:
  enum ProviderType { PROVIDER_NONE, PROVIDER_TCPWRAP };
  struct Nested {
    int a;
    long b;
  };

  AsyncWrap() {}
  ~AsyncWrap() override {}
  static void EmitAsyncInit(void *env, double async_id, double trigger) {
    std::printf("init %p %f %f\n", env, async_id, trigger);
  }
  void AsyncReset(double id) { async_id_ = id; }
  void AsyncReset(void *resource, double id) {
    env_ = resource;
    async_id_ = id;
  }

  ProviderType provider_type_ = PROVIDER_NONE;
  bool init_hook_ran_ = false;
  double async_id_ = -1;
  double trigger_async_id_ = -1;
  Nested nested_ = {1, 2};
  union {
    int u_int;
    double u_double;
  };
  struct {  // an anonymous struct (a GNU extension in C++)
    int s_a;
    int s_b;
  };
  int bits_ : 3;
};

namespace crypto {
class TLSWrap : public AsyncWrap {
 public:
  void *ssl_ = nullptr;
};
}  // namespace crypto

}  // namespace node

typedef struct uv_like_s {
  int a;
  void *b;
} uv_like_t;

namespace {
struct Hidden {
  int x;
  long y;
};
}  // namespace

#define OFF(obj, type, member) \
  (long)((const char *)&(obj).member - (const char *)static_cast<type *>(&(obj)))

int main() {
  node::crypto::TLSWrap w;
  node::AsyncWrap::Nested n = {3, 4};
  uv_like_t u = {5, nullptr};
  Hidden h = {6, 7};

  w.u_double = 1.5;
  w.s_b = 3;
  w.bits_ = 1;
  w.AsyncReset(1.0);
  w.AsyncReset(nullptr, 2.0);
  node::AsyncWrap::EmitAsyncInit(nullptr, 1, 2);
  std::printf("node::BaseObject persistent_handle_ %ld\n",
              OFF(w, node::BaseObject, persistent_handle_));
  std::printf("node::BaseObject env_ %ld\n", OFF(w, node::BaseObject, env_));
  std::printf("node::AsyncWrap provider_type_ %ld\n", OFF(w, node::AsyncWrap, provider_type_));
  std::printf("node::AsyncWrap async_id_ %ld\n", OFF(w, node::AsyncWrap, async_id_));
  std::printf("node::AsyncWrap trigger_async_id_ %ld\n",
              OFF(w, node::AsyncWrap, trigger_async_id_));
  std::printf("node::AsyncWrap nested_ %ld\n", OFF(w, node::AsyncWrap, nested_));
  std::printf("node::AsyncWrap nested_.b %ld\n", OFF(w, node::AsyncWrap, nested_.b));
  std::printf("node::AsyncWrap u_double %ld\n", OFF(w, node::AsyncWrap, u_double));
  std::printf("node::AsyncWrap s_b %ld\n", OFF(w, node::AsyncWrap, s_b));
  std::printf("node::AsyncWrap - %zu\n", sizeof(node::AsyncWrap));
  std::printf("node::AsyncWrap::Nested b %ld\n", (long)((char *)&n.b - (char *)&n));
  std::printf("node::crypto::TLSWrap ssl_ %ld\n", OFF(w, node::crypto::TLSWrap, ssl_));
  std::printf("node::crypto::TLSWrap - %zu\n", sizeof(node::crypto::TLSWrap));
  std::printf("uv_like_t b %ld\n", (long)((char *)&u.b - (char *)&u));
  std::printf("uv_like_s - %zu\n", sizeof(uv_like_s));
  std::printf("(anonymous namespace)::Hidden y %ld\n", (long)((char *)&h.y - (char *)&h));
  return 0;
}
