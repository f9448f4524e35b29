"""genkit's built-in components, registered through the ``genkit`` entry point like any plugin.

This module is the plugin: its :func:`genkit_components` hook lists every component by name.
"""

from __future__ import annotations

from genkit_core import Component, hookimpl

from .callbacks.collapse_warning import CollapseWarning
from .callbacks.early_stopping import EarlyStopping
from .callbacks.ema import EMA
from .callbacks.pictures import Pictures
from .conditioners.label_concat import LabelConcat
from .conditioners.label_embedding import LabelEmbedding
from .data.digits import Digits
from .data.dsprites import DSprites
from .data.image_folder import ImageFolder
from .data.tensor_file import TensorFile
from .data.torchvision_sets import CIFAR10, MNIST, FashionMNIST
from .divergences.beta_tc import BetaTC
from .divergences.gaussian_kl import GaussianKL
from .divergences.mc_kl import MonteCarloKL
from .divergences.mmd import MMD
from .features import DigitClassifier, Inception, Pixels
from .likelihoods.bernoulli import Bernoulli
from .likelihoods.categorical256 import Categorical256
from .likelihoods.discretized_logistic import DiscretizedLogistic
from .likelihoods.gaussian import Gaussian
from .likelihoods.laplace import Laplace
from .likelihoods.mse import MSE
from .loggers.csv_logger import CSVLogger
from .loggers.mlflow_logger import MLflowLogger
from .loggers.tensorboard_logger import TensorBoardLogger
from .metrics import DCI, FD, MIG, SAP, BetaVAEScore, FactorVAEScore, PrecisionRecall
from .networks.conv import ConvDecoder, ConvEncoder
from .networks.mlp import MLPDecoder, MLPEncoder
from .objectives.elbo import ELBO
from .objectives.factor_vae import FactorVAE
from .objectives.iwae import IWAE
from .objectives.rae import RAE
from .posteriors.delta import DeltaPosterior
from .posteriors.gaussian import GaussianPosterior
from .posteriors.hierarchical import HierarchicalPosterior
from .posteriors.iaf import IAFPosterior
from .posteriors.vq import VectorQuantizer
from .priors.code_diffusion import CodeDiffusion
from .priors.code_gaussian import CodeGaussian
from .priors.code_gmm import CodeGMM
from .priors.code_maf import CodeMAF
from .priors.code_pixelcnn import CodePixelCNN
from .priors.code_vae import CodeVAE
from .priors.gaussian import LearnedGaussian
from .priors.hierarchical import HierarchicalPrior
from .priors.mixture import MixtureOfGaussians
from .priors.standard_normal import StandardNormal
from .priors.vamp import VampPrior


@hookimpl
def genkit_components() -> list[Component]:
    """Every built-in component."""
    return [
        Component("mlp", MLPEncoder),
        Component("mlp", MLPDecoder),
        Component("conv", ConvEncoder),
        Component("conv", ConvDecoder),
        Component("gaussian", GaussianPosterior),
        Component("delta", DeltaPosterior),
        Component("iaf", IAFPosterior),
        Component("hierarchical", HierarchicalPosterior),
        Component("vq", VectorQuantizer),
        Component("standard_normal", StandardNormal),
        Component("gaussian", LearnedGaussian),
        Component("mixture", MixtureOfGaussians),
        Component("vamp", VampPrior),
        Component("hierarchical", HierarchicalPrior),
        Component("code_gaussian", CodeGaussian),
        Component("code_gmm", CodeGMM),
        Component("code_pixelcnn", CodePixelCNN),
        Component("code_maf", CodeMAF),
        Component("code_vae", CodeVAE),
        Component("code_diffusion", CodeDiffusion),
        Component("gaussian_kl", GaussianKL),
        Component("mc_kl", MonteCarloKL),
        Component("mmd", MMD),
        Component("beta_tc", BetaTC),
        Component("mse", MSE),
        Component("bernoulli", Bernoulli),
        Component("gaussian", Gaussian),
        Component("laplace", Laplace),
        Component("discretized_logistic", DiscretizedLogistic),
        Component("categorical256", Categorical256),
        Component("elbo", ELBO),
        Component("iwae", IWAE),
        Component("factor_vae", FactorVAE),
        Component("rae", RAE),
        Component("label_concat", LabelConcat),
        Component("label_embedding", LabelEmbedding),
        Component("digits", Digits),
        Component("dsprites", DSprites),
        Component("tensor_file", TensorFile),
        Component("mnist", MNIST),
        Component("fashion_mnist", FashionMNIST),
        Component("cifar10", CIFAR10),
        Component("image_folder", ImageFolder),
        Component("csv", CSVLogger),
        Component("tensorboard", TensorBoardLogger),
        Component("mlflow", MLflowLogger),
        Component("pictures", Pictures),
        Component("collapse_warning", CollapseWarning),
        Component("early_stopping", EarlyStopping),
        Component("ema", EMA),
        Component("mig", MIG),
        Component("factor_vae_score", FactorVAEScore),
        Component("beta_vae_score", BetaVAEScore),
        Component("dci", DCI),
        Component("sap", SAP),
        Component("fd", FD),
        Component("precision_recall", PrecisionRecall),
        Component("digit_classifier", DigitClassifier),
        Component("inception", Inception),
        Component("pixels", Pixels),
    ]
