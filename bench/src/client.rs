//! One keep-alive HTTP/1 connection, driven by hand: a load generator should spend its CPU on
//! requests, not on a client's pooling and redirect machinery.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    addr: SocketAddr,
}

pub type Outcome = Result<(StatusCode, Bytes), String>;

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok(Self { sender, addr })
    }

    pub async fn send(&mut self, method: Method, path: &str, token: Option<&str>, body: Option<String>) -> Outcome {
        if self.sender.is_closed() {
            *self = Self::open(self.addr).await?;
        }
        let mut request = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map_or_else(Bytes::new, Bytes::from);
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let response = self.sender.send_request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, bytes))
    }

    pub async fn get(&mut self, path: &str, token: Option<&str>) -> Outcome {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&mut self, path: &str, token: &str, body: String) -> Outcome {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }
}
