"""advnotes: executable notes on why adversarial training of ReLU networks is difficult.

The package holds the helpers the book's chapters import by name; each module has
one job (see the API reference in the book's appendix):

- :mod:`advnotes.config`: device, profile (``quick``/``full``) and seeding.
- :mod:`advnotes.data`: scikit-learn digits, MNIST-1D and synthetic Gaussian mixtures.
- :mod:`advnotes.models`: ReLU MLP/CNN builders and the piecewise-linearity check.
- :mod:`advnotes.linear_regions`: local linear maps, gate patterns, frozen gates.
- :mod:`advnotes.curvature`: closed-form input Hessian and its C x C spectrum.
- :mod:`advnotes.attacks`: plain gradient ascent, L-inf / L2 PGD and FGSM.
- :mod:`advnotes.threat`: the threat model every chapter uses (budget, box, robust accuracy).
- :mod:`advnotes.training`: a small, reproducible (adversarial) training loop.
- :mod:`advnotes.theory`: Result 1 in closed form: the attack's perturbation and its flow (chapter 2).
- :mod:`advnotes.influence`: per-sample confidence, curvature and influence (chapter 3).
- :mod:`advnotes.krylov`: Lanczos/Arnoldi (thick restart), power iteration and ARPACK on any operator with a matvec.
- :mod:`advnotes.param_hessian`: parameter-Hessian products, Lanczos, and the training Jacobian (chapter 4).
- :mod:`advnotes.claims`: identities and claims (declared specs, intervals over seeds), the evidence files.

Reference: Cheng, Zhang, Xin, Shen, Ren, Zhang, "Why Adversarial Training of ReLU
Networks Is Difficult?", arXiv:2205.15130 (2022).
"""

__version__ = "0.2.0"
