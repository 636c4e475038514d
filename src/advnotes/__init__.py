"""advnotes: executable notes on why adversarial training of ReLU networks is difficult.

The package holds the helpers the book's chapters import by name; each module has
one job (see the API reference in the book's appendix):

- :mod:`advnotes.validation`: the input checks every module shares (one message per mistake).
- :mod:`advnotes.stats`: intervals, ranks, bins, crossings, growth fits, cosines, shares.
- :mod:`advnotes.tables`: the book's one table printer.
- :mod:`advnotes.config`: device, profile (``quick``/``full``) and seeding.
- :mod:`advnotes.krylov`: Lanczos/Arnoldi (thick restart), power iteration and ARPACK on any operator with a matvec.
- :mod:`advnotes.data`: scikit-learn digits, MNIST-1D and synthetic Gaussian mixtures.
- :mod:`advnotes.models`: ReLU MLP/CNN builders, the piecewise-linearity check, flat parameters.
- :mod:`advnotes.linear_regions`: local linear maps, gate patterns, frozen gates.
- :mod:`advnotes.curvature`: closed-form input Hessian and its C x C spectrum.
- :mod:`advnotes.attacks`: plain gradient ascent, L-inf / L2 PGD and FGSM.
- :mod:`advnotes.threat`: the threat model every chapter uses (budget, box, robust accuracy).
- :mod:`advnotes.training`: a small, reproducible (adversarial) training loop, several seeds at once.
- :mod:`advnotes.settings`: the book's two settings (digits + MLP, MNIST-1D + 1-d CNN).
- :mod:`advnotes.operators`: parameter-space operators (Hessians, the training Jacobian J_eff) for krylov.
- :mod:`advnotes.theory`: Result 1 in closed form: the attack's perturbation and its flow (chapter 2).
- :mod:`advnotes.influence`: per-sample confidence, curvature and influence (chapter 3).
- :mod:`advnotes.param_hessian`: chapter 4's solves, sample shares, training traces and onset search.
- :mod:`advnotes.claims`: identities and claims (declared specs, intervals over seeds), the evidence files.
- :mod:`advnotes.chapters`: each chapter's pipelines, moved out of its cells.

Reference: Cheng, Zhang, Xin, Shen, Ren, Zhang, "Why Adversarial Training of ReLU
Networks Is Difficult?", arXiv:2205.15130 (2022).
"""

__version__ = "0.2.0"
