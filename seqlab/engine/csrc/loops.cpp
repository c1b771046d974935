// The explicit engine's time loops in C++: the same equations as seqlab/engine/bptt.py (its plain-torch
// twin), with each step's pointwise math fused into one vectorised pass over (B, H) instead of ~8 tensor
// kernels, and no Python between steps. GEMMs stay ATen's (addmm_out / mm_out into preallocated buffers).
//
// The pointwise passes use ATen's at::vec::Vectorized (AVX2 when the build defines CPU_CAPABILITY_AVX2, see
// seqlab/engine/ext.py; the portable scalar fallback otherwise), whose exp/tanh are the SLEEF kernels that
// torch's own sigmoid/tanh use: 1-ulp accuracy, 8 floats per instruction.
//
// Shapes: B batch, T time, H hidden, G gates (LSTM 4: i f g o, GRU 3: r z n, RNN 1).
// Masks are (T, B) bool: at a padded step the carried state passes through unchanged.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>
#include <algorithm>
#include <vector>

using at::Tensor;

namespace {

template <typename T> using Vec = at::vec::Vectorized<T>;

template <typename T> inline Vec<T> vsigmoid(const Vec<T>& x) { return (Vec<T>(T(1)) + x.neg().exp()).reciprocal(); }

// Run f(j, n) over [0, H) in chunks of one vector; n < Vec::size() only for the tail.
template <typename T, typename F> inline void over_h(int64_t H, F&& f) {
  constexpr int64_t V = Vec<T>::size();
  int64_t j = 0;
  for (; j + V <= H; j += V) f(j, V);
  if (j < H) f(j, H - j);
}

inline int64_t step_at(int64_t s, int64_t T, bool reverse) { return reverse ? T - 1 - s : s; }

const bool* mask_row(const c10::optional<Tensor>& mask, int64_t t, int64_t B) {
  return mask.has_value() ? mask->data_ptr<bool>() + t * B : nullptr;
}

// Rows are independent: split the batch over threads only when each gets enough work to pay for the fork.
template <typename F> inline void over_b(int64_t B, int64_t H, F&& f) {
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(H, 1));
  at::parallel_for(0, B, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) f(b);
  });
}

// ---------------------------------------------------------------- LSTM
template <typename T>
void lstm_fwd_point(T* g, const T* c_prev, const T* h_prev, T* c, T* tc, T* h, const bool* m, int64_t B, int64_t H) {
  over_b(B, H, [&](int64_t b) {
    T* gb = g + b * 4 * H;
    const int64_t o0 = b * H;
    const bool valid = m == nullptr || m[b];
    over_h<T>(H, [&](int64_t j, int64_t n) {
      // i, f, o = σ(·); g = tanh(·)
      const auto i = vsigmoid(Vec<T>::loadu(gb + j, n)), f = vsigmoid(Vec<T>::loadu(gb + H + j, n));
      const auto gg = Vec<T>::loadu(gb + 2 * H + j, n).tanh(), o = vsigmoid(Vec<T>::loadu(gb + 3 * H + j, n));
      i.store(gb + j, n); f.store(gb + H + j, n); gg.store(gb + 2 * H + j, n); o.store(gb + 3 * H + j, n);
      // c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
      const auto cp = Vec<T>::loadu(c_prev + o0 + j, n);
      const auto cn = at::vec::fmadd(f, cp, i * gg);
      const auto t = cn.tanh();
      t.store(tc + o0 + j, n);
      if (valid) {
        cn.store(c + o0 + j, n);
        (o * t).store(h + o0 + j, n);
      } else {
        cp.store(c + o0 + j, n);
        Vec<T>::loadu(h_prev + o0 + j, n).store(h + o0 + j, n);
      }
    });
  });
}

template <typename T>
void lstm_bwd_point(const T* a, const T* tc, const T* c_prev, const T* dh, const T* dout, T* dc, T* dg,
                    const bool* m, int64_t B, int64_t H) {
  const Vec<T> one(T(1));
  over_b(B, H, [&](int64_t b) {
    const T* ab = a + b * 4 * H;
    T* dgb = dg + b * 4 * H;
    const int64_t o0 = b * H;
    if (m != nullptr && !m[b]) {  // padded step: no gradient into the cell; dc passes through
      std::fill(dgb, dgb + 4 * H, T(0));
      return;
    }
    over_h<T>(H, [&](int64_t j, int64_t n) {
      const auto i = Vec<T>::loadu(ab + j, n), f = Vec<T>::loadu(ab + H + j, n);
      const auto g = Vec<T>::loadu(ab + 2 * H + j, n), o = Vec<T>::loadu(ab + 3 * H + j, n);
      const auto t = Vec<T>::loadu(tc + o0 + j, n);
      const auto dht = Vec<T>::loadu(dh + o0 + j, n) + Vec<T>::loadu(dout + o0 + j, n);
      const auto dct = Vec<T>::loadu(dc + o0 + j, n) + dht * o * (one - t * t);  // through tanh(c_t), plus dc_next
      (dct * g * i * (one - i)).store(dgb + j, n);                                    // input gate, through σ
      (dct * Vec<T>::loadu(c_prev + o0 + j, n) * f * (one - f)).store(dgb + H + j, n);  // forget gate, through σ
      (dct * i * (one - g * g)).store(dgb + 2 * H + j, n);                            // candidate, through tanh
      (dht * t * o * (one - o)).store(dgb + 3 * H + j, n);                            // output gate, through σ
      (dct * f).store(dc + o0 + j, n);                                                // dc_next for step t-1
    });
  });
}

// dh_next = (valid ? dh_from_cell : dh_carry), written into dh
template <typename T>
void masked_carry(T* dh, const T* dnew, const bool* m, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b)
    if (m == nullptr || m[b]) std::copy(dnew + b * H, dnew + (b + 1) * H, dh + b * H);
}

// ---------------------------------------------------------------- GRU
template <typename T>
void gru_fwd_point(const T* gx, const T* gh, const T* h_prev, T* a, T* h, const bool* m, int64_t B, int64_t H) {
  over_b(B, H, [&](int64_t b) {
    const T* x = gx + b * 3 * H;
    const T* hh = gh + b * 3 * H;
    T* ab = a + b * 4 * H;
    const int64_t o0 = b * H;
    const bool valid = m == nullptr || m[b];
    over_h<T>(H, [&](int64_t j, int64_t n) {
      const auto r = vsigmoid(Vec<T>::loadu(x + j, n) + Vec<T>::loadu(hh + j, n));
      const auto z = vsigmoid(Vec<T>::loadu(x + H + j, n) + Vec<T>::loadu(hh + H + j, n));
      const auto hn = Vec<T>::loadu(hh + 2 * H + j, n);
      // n = tanh(x_n + r ⊙ (W_hn h + b_hn));  h_t = n + z ⊙ (h_{t-1} - n)
      const auto nn = at::vec::fmadd(r, hn, Vec<T>::loadu(x + 2 * H + j, n)).tanh();
      r.store(ab + j, n); z.store(ab + H + j, n); nn.store(ab + 2 * H + j, n); hn.store(ab + 3 * H + j, n);
      const auto hp = Vec<T>::loadu(h_prev + o0 + j, n);
      (valid ? at::vec::fmadd(z, hp - nn, nn) : hp).store(h + o0 + j, n);
    });
  });
}

template <typename T>
void gru_bwd_point(const T* a, const T* h_prev, const T* dh, const T* dout, T* dgx, T* dgh, T* dh_direct,
                   const bool* m, int64_t B, int64_t H) {
  const Vec<T> one(T(1));
  over_b(B, H, [&](int64_t b) {
    const T* ab = a + b * 4 * H;
    T* dx = dgx + b * 3 * H;
    T* dhh = dgh + b * 3 * H;
    const int64_t o0 = b * H;
    if (m != nullptr && !m[b]) {  // padded step: nothing flows into the cell
      std::fill(dx, dx + 3 * H, T(0));
      std::fill(dhh, dhh + 3 * H, T(0));
      std::fill(dh_direct + o0, dh_direct + o0 + H, T(0));
      return;
    }
    over_h<T>(H, [&](int64_t j, int64_t n) {
      const auto dht = Vec<T>::loadu(dh + o0 + j, n) + Vec<T>::loadu(dout + o0 + j, n);
      const auto r = Vec<T>::loadu(ab + j, n), z = Vec<T>::loadu(ab + H + j, n);
      const auto nn = Vec<T>::loadu(ab + 2 * H + j, n), hn = Vec<T>::loadu(ab + 3 * H + j, n);
      const auto dn_pre = dht * (one - z) * (one - nn * nn);  // through h = (1-z) n + z h_prev, then tanh
      const auto dr_pre = dn_pre * hn * r * (one - r);        // through r ⊙ hn, then σ
      const auto dz_pre = dht * (Vec<T>::loadu(h_prev + o0 + j, n) - nn) * z * (one - z);
      dr_pre.store(dx + j, n); dr_pre.store(dhh + j, n);
      dz_pre.store(dx + H + j, n); dz_pre.store(dhh + H + j, n);
      dn_pre.store(dx + 2 * H + j, n);
      (dn_pre * r).store(dhh + 2 * H + j, n);
      (dht * z).store(dh_direct + o0 + j, n);  // the z ⊙ h_{t-1} path
    });
  });
}

// ---------------------------------------------------------------- RNN
template <typename T>
void rnn_fwd_point(const T* pre, const T* h_prev, T* h, const bool* m, bool relu, int64_t B, int64_t H) {
  const Vec<T> zero(T(0));
  over_b(B, H, [&](int64_t b) {
    const int64_t o0 = b * H;
    if (m != nullptr && !m[b]) {
      std::copy(h_prev + o0, h_prev + o0 + H, h + o0);
      return;
    }
    over_h<T>(H, [&](int64_t j, int64_t n) {
      const auto v = Vec<T>::loadu(pre + o0 + j, n);
      (relu ? at::vec::maximum(v, zero) : v.tanh()).store(h + o0 + j, n);
    });
  });
}

template <typename T>
void rnn_bwd_point(const T* h, const T* dh, const T* dout, T* dpre, const bool* m, bool relu, int64_t B, int64_t H) {
  const Vec<T> one(T(1)), zero(T(0));
  over_b(B, H, [&](int64_t b) {
    const int64_t o0 = b * H;
    if (m != nullptr && !m[b]) {
      std::fill(dpre + o0, dpre + o0 + H, T(0));
      return;
    }
    over_h<T>(H, [&](int64_t j, int64_t n) {
      const auto dht = Vec<T>::loadu(dh + o0 + j, n) + Vec<T>::loadu(dout + o0 + j, n);
      const auto hv = Vec<T>::loadu(h + o0 + j, n);
      // relu' = [h > 0] (h = relu(pre) > 0 exactly where pre > 0);  tanh' = 1 - h²
      (relu ? Vec<T>::blendv(zero, dht, hv > zero) : dht * (one - hv * hv)).store(dpre + o0 + j, n);
    });
  });
}

}  // namespace

// xw: (T, B, 4H) = W_ih x + b_ih + b_hh for all steps. Returns {hs, cs, acts, tanh_cs}.
std::vector<Tensor> lstm_forward(Tensor xw, Tensor h0, Tensor c0, Tensor w_hh, c10::optional<Tensor> mask,
                                 bool reverse) {
  const int64_t T = xw.size(0), B = xw.size(1), H = h0.size(1);
  auto w_hh_t = w_hh.t().contiguous();
  auto acts = at::empty_like(xw), hs = at::empty({T, B, H}, xw.options());
  auto cs = at::empty_like(hs), tcs = at::empty_like(hs);
  Tensor h = h0.contiguous(), c = c0.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, reverse);
    auto g = acts[t];
    at::addmm_out(g, xw[t], h, w_hh_t);  // gates = W_ih x_t + b + W_hh h_{t-1}
    AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "lstm_fwd", [&] {
      lstm_fwd_point<scalar_t>(g.data_ptr<scalar_t>(), c.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                               cs[t].data_ptr<scalar_t>(), tcs[t].data_ptr<scalar_t>(), hs[t].data_ptr<scalar_t>(),
                               mask_row(mask, t, B), B, H);
    });
    h = hs[t];
    c = cs[t];
  }
  return {hs, cs, acts, tcs};
}

// Returns {dgates (T, B, 4H), dh0, dc0}.
std::vector<Tensor> lstm_backward(Tensor dout, Tensor dh_n, Tensor dc_n, Tensor acts, Tensor tcs, Tensor cprev,
                                  Tensor w_hh, c10::optional<Tensor> mask, bool reverse) {
  const int64_t T = acts.size(0), B = acts.size(1), H = tcs.size(2);
  auto dg = at::empty_like(acts);
  auto dh = dh_n.contiguous().clone(), dc = dc_n.contiguous().clone();
  auto dnew = at::empty_like(dh);
  dout = dout.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, !reverse);
    const bool* m = mask_row(mask, t, B);
    AT_DISPATCH_FLOATING_TYPES(acts.scalar_type(), "lstm_bwd", [&] {
      lstm_bwd_point<scalar_t>(acts[t].data_ptr<scalar_t>(), tcs[t].data_ptr<scalar_t>(),
                               cprev[t].data_ptr<scalar_t>(), dh.data_ptr<scalar_t>(), dout[t].data_ptr<scalar_t>(),
                               dc.data_ptr<scalar_t>(), dg[t].data_ptr<scalar_t>(), m, B, H);
      at::mm_out(dnew, dg[t], w_hh);  // dh_next from the cell, via W_hh
      masked_carry<scalar_t>(dh.data_ptr<scalar_t>(), dnew.data_ptr<scalar_t>(), m, B, H);
    });
  }
  return {dg, dh, dc};
}

// gx: (T, B, 3H) = W_ih x + b_ih. Returns {hs, acts}.
std::vector<Tensor> gru_forward(Tensor gx, Tensor h0, Tensor w_hh, c10::optional<Tensor> b_hh,
                                c10::optional<Tensor> mask, bool reverse) {
  const int64_t T = gx.size(0), B = gx.size(1), H = h0.size(1);
  auto w_hh_t = w_hh.t().contiguous();
  auto acts = at::empty({T, B, 4 * H}, gx.options()), hs = at::empty({T, B, H}, gx.options());
  auto gh = at::empty({B, 3 * H}, gx.options());
  Tensor h = h0.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, reverse);
    if (b_hh.has_value()) at::addmm_out(gh, *b_hh, h, w_hh_t); else at::mm_out(gh, h, w_hh_t);
    AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "gru_fwd", [&] {
      gru_fwd_point<scalar_t>(gx[t].data_ptr<scalar_t>(), gh.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(),
                              acts[t].data_ptr<scalar_t>(), hs[t].data_ptr<scalar_t>(), mask_row(mask, t, B), B, H);
    });
    h = hs[t];
  }
  return {hs, acts};
}

// Returns {dgx (T, B, 3H), dgh (T, B, 3H), dh0}.
std::vector<Tensor> gru_backward(Tensor dout, Tensor dh_n, Tensor acts, Tensor hprev, Tensor w_hh,
                                 c10::optional<Tensor> mask, bool reverse) {
  const int64_t T = acts.size(0), B = acts.size(1), H = hprev.size(2);
  auto dgx = at::empty({T, B, 3 * H}, acts.options()), dgh = at::empty_like(dgx);
  auto dh = dh_n.contiguous().clone(), ddir = at::empty_like(dh);
  dout = dout.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, !reverse);
    const bool* m = mask_row(mask, t, B);
    AT_DISPATCH_FLOATING_TYPES(acts.scalar_type(), "gru_bwd", [&] {
      gru_bwd_point<scalar_t>(acts[t].data_ptr<scalar_t>(), hprev[t].data_ptr<scalar_t>(), dh.data_ptr<scalar_t>(),
                              dout[t].data_ptr<scalar_t>(), dgx[t].data_ptr<scalar_t>(), dgh[t].data_ptr<scalar_t>(),
                              ddir.data_ptr<scalar_t>(), m, B, H);
      ddir.addmm_(dgh[t], w_hh);  // dh_prev = dgh @ W_hh + dh ⊙ z
      masked_carry<scalar_t>(dh.data_ptr<scalar_t>(), ddir.data_ptr<scalar_t>(), m, B, H);
    });
  }
  return {dgx, dgh, dh};
}

// xw: (T, B, H) = W_ih x + b_ih + b_hh. Returns {hs}.
std::vector<Tensor> rnn_forward(Tensor xw, Tensor h0, Tensor w_hh, c10::optional<Tensor> mask, bool reverse,
                                bool relu) {
  const int64_t T = xw.size(0), B = xw.size(1), H = h0.size(1);
  auto w_hh_t = w_hh.t().contiguous();
  auto hs = at::empty({T, B, H}, xw.options()), pre = at::empty({B, H}, xw.options());
  Tensor h = h0.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, reverse);
    at::addmm_out(pre, xw[t], h, w_hh_t);
    AT_DISPATCH_FLOATING_TYPES(xw.scalar_type(), "rnn_fwd", [&] {
      rnn_fwd_point<scalar_t>(pre.data_ptr<scalar_t>(), h.data_ptr<scalar_t>(), hs[t].data_ptr<scalar_t>(),
                              mask_row(mask, t, B), relu, B, H);
    });
    h = hs[t];
  }
  return {hs};
}

// Returns {dpre (T, B, H), dh0}.
std::vector<Tensor> rnn_backward(Tensor dout, Tensor dh_n, Tensor hs, Tensor w_hh, c10::optional<Tensor> mask,
                                 bool reverse, bool relu) {
  const int64_t T = hs.size(0), B = hs.size(1), H = hs.size(2);
  auto dpre = at::empty_like(hs);
  auto dh = dh_n.contiguous().clone(), dnew = at::empty_like(dh);
  dout = dout.contiguous();
  for (int64_t s = 0; s < T; ++s) {
    const int64_t t = step_at(s, T, !reverse);
    const bool* m = mask_row(mask, t, B);
    AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnn_bwd", [&] {
      rnn_bwd_point<scalar_t>(hs[t].data_ptr<scalar_t>(), dh.data_ptr<scalar_t>(), dout[t].data_ptr<scalar_t>(),
                              dpre[t].data_ptr<scalar_t>(), m, relu, B, H);
      at::mm_out(dnew, dpre[t], w_hh);
      masked_carry<scalar_t>(dh.data_ptr<scalar_t>(), dnew.data_ptr<scalar_t>(), m, B, H);
    });
  }
  return {dpre, dh};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
}
