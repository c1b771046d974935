// The explicit engine's time loops in C++: the same equations as seqlab/engine/bptt.py (its plain-torch
// twin), with each step's pointwise math fused into one pass over (B, H) instead of ~8 tensor kernels, and
// no Python between steps. GEMMs stay ATen's (addmm_out into preallocated buffers).
//
// Shapes: B batch, T time, H hidden, G gates (LSTM 4: i f g o, GRU 3: r z n, RNN 1).
// Masks are (T, B) bool: at a padded step the carried state passes through unchanged.
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cmath>
#include <vector>

using at::Tensor;

namespace {

template <typename T> inline T sigm(T x) { return T(1) / (T(1) + std::exp(-x)); }

inline int64_t step_at(int64_t s, int64_t T, bool reverse) { return reverse ? T - 1 - s : s; }

const bool* mask_row(const c10::optional<Tensor>& mask, int64_t t, int64_t B) {
  return mask.has_value() ? mask->data_ptr<bool>() + t * B : nullptr;
}

// ---------------------------------------------------------------- LSTM
template <typename T>
void lstm_fwd_point(T* g, const T* c_prev, const T* h_prev, T* c, T* tc, T* h, const bool* m, int64_t B, int64_t H) {
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      T* gb = g + b * 4 * H;
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        // i, f, o = σ(·); g = tanh(·)
        const T i = sigm(gb[j]), f = sigm(gb[H + j]), gg = std::tanh(gb[2 * H + j]), o = sigm(gb[3 * H + j]);
        gb[j] = i; gb[H + j] = f; gb[2 * H + j] = gg; gb[3 * H + j] = o;
        const int64_t k = b * H + j;
        // c_t = f ⊙ c_{t-1} + i ⊙ g;  h_t = o ⊙ tanh(c_t)
        const T cn = f * c_prev[k] + i * gg, t = std::tanh(cn);
        tc[k] = t;
        c[k] = valid ? cn : c_prev[k];
        h[k] = valid ? o * t : h_prev[k];
      }
    }
  });
}

template <typename T>
void lstm_bwd_point(const T* a, const T* tc, const T* c_prev, const T* dh, const T* dout, T* dc, T* dg,
                    const bool* m, int64_t B, int64_t H) {
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* ab = a + b * 4 * H;
      T* dgb = dg + b * 4 * H;
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = b * H + j;
        if (!valid) {  // padded step: no gradient into the cell; dc passes through
          dgb[j] = dgb[H + j] = dgb[2 * H + j] = dgb[3 * H + j] = T(0);
          continue;
        }
        const T i = ab[j], f = ab[H + j], g = ab[2 * H + j], o = ab[3 * H + j], t = tc[k];
        const T dht = dh[k] + (dout ? dout[k] : T(0));
        const T dct = dc[k] + dht * o * (T(1) - t * t);  // through tanh(c_t), plus dc_next
        dgb[j] = dct * g * i * (T(1) - i);              // input gate, through σ
        dgb[H + j] = dct * c_prev[k] * f * (T(1) - f);  // forget gate, through σ
        dgb[2 * H + j] = dct * i * (T(1) - g * g);      // cell candidate, through tanh
        dgb[3 * H + j] = dht * t * o * (T(1) - o);      // output gate, through σ
        dc[k] = dct * f;                                // dc_next for step t-1
      }
    }
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
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* x = gx + b * 3 * H;
      const T* hh = gh + b * 3 * H;
      T* ab = a + b * 4 * H;
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = b * H + j;
        const T r = sigm(x[j] + hh[j]), z = sigm(x[H + j] + hh[H + j]);
        // n = tanh(x_n + r ⊙ (W_hn h + b_hn));  h_t = n + z ⊙ (h_{t-1} - n)
        const T n = std::tanh(x[2 * H + j] + r * hh[2 * H + j]);
        ab[j] = r; ab[H + j] = z; ab[2 * H + j] = n; ab[3 * H + j] = hh[2 * H + j];
        h[k] = valid ? n + z * (h_prev[k] - n) : h_prev[k];
      }
    }
  });
}

template <typename T>
void gru_bwd_point(const T* a, const T* h_prev, const T* dh, const T* dout, T* dgx, T* dgh, T* dh_direct,
                   const bool* m, int64_t B, int64_t H) {
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const T* ab = a + b * 4 * H;
      T* dx = dgx + b * 3 * H;
      T* dhh = dgh + b * 3 * H;
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = b * H + j;
        const T dht = valid ? dh[k] + (dout ? dout[k] : T(0)) : T(0);
        const T r = ab[j], z = ab[H + j], n = ab[2 * H + j], hn = ab[3 * H + j];
        const T dn_pre = dht * (T(1) - z) * (T(1) - n * n);  // through h = (1-z) n + z h_prev, then tanh
        const T dr_pre = dn_pre * hn * r * (T(1) - r);       // through r ⊙ hn, then σ
        const T dz_pre = dht * (h_prev[k] - n) * z * (T(1) - z);
        dx[j] = dhh[j] = dr_pre;
        dx[H + j] = dhh[H + j] = dz_pre;
        dx[2 * H + j] = dn_pre;
        dhh[2 * H + j] = dn_pre * r;
        dh_direct[k] = dht * z;  // the z ⊙ h_{t-1} path
      }
    }
  });
}

// ---------------------------------------------------------------- RNN
template <typename T>
void rnn_fwd_point(T* pre, const T* h_prev, T* h, const bool* m, bool relu, int64_t B, int64_t H) {
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = b * H + j;
        const T v = relu ? std::max(pre[k], T(0)) : std::tanh(pre[k]);
        h[k] = valid ? v : h_prev[k];
      }
    }
  });
}

template <typename T>
void rnn_bwd_point(const T* h, const T* dh, const T* dout, T* dpre, const bool* m, bool relu, int64_t B, int64_t H) {
  at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const bool valid = m == nullptr || m[b];
      for (int64_t j = 0; j < H; ++j) {
        const int64_t k = b * H + j;
        const T dht = valid ? dh[k] + (dout ? dout[k] : T(0)) : T(0);
        dpre[k] = relu ? (h[k] > T(0) ? dht : T(0)) : dht * (T(1) - h[k] * h[k]);
      }
    }
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
