// strata/local/internal/function_ref.h: FunctionRef<R(Args...)>, a non-owning reference to a
// callable (two words, no allocation), for passing a loader down to the cache engine without
// std::function's cost or a dependency on absl::FunctionRef. Internal; not part of the API.
//
//   void visit(FunctionRef<int(int)> f) { f(1); }
//   visit([&](int x) { return x + offset; });  // the lambda must outlive the call
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace strata::internal {

template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  // Refers to `f`, which must outlive every call through this FunctionRef.
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_object_v<std::remove_reference_t<F>> &&
           std::is_invocable_r_v<R, std::remove_reference_t<F>&, Args...>) FunctionRef(F&& f)
  noexcept  // NOLINT(google-explicit-constructor): used like a function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        invoke_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return invoke_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*invoke_)(void*, Args...);
};

}  // namespace strata::internal
